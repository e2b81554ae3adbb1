// Command controlplane is a test-only Kubernetes control plane in one process:
// an embedded etcd, kube-apiserver and the PersistentVolume binder controller, plus
// kube-scheduler, the controllers a Deployment or a StatefulSet needs (scheduler.go,
// workloads.go) and the claim and PV protection controllers (protection.go).
// There is no kubelet: nodes are API objects, pods are scheduled but never run.
//
//	controlplane -etcd-dir DIR -etcd-client-url http://127.0.0.1:P -etcd-peer-url http://127.0.0.1:Q \
//	    -controller-kubeconfig FILE -- <kube-apiserver flags>
//
// It stops on SIGTERM/SIGINT. Tests only: etcd runs without fsync.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/pkg/controller/volume/persistentvolume"
)

func main() {
	etcdDir := flag.String("etcd-dir", "", "etcd data directory")
	clientURL := flag.String("etcd-client-url", "http://127.0.0.1:2379", "etcd client URL")
	peerURL := flag.String("etcd-peer-url", "http://127.0.0.1:2380", "etcd peer URL")
	kubeconfig := flag.String("controller-kubeconfig", "", "kubeconfig of the controllers and the scheduler")
	flag.Parse()
	if err := run(*etcdDir, *clientURL, *peerURL, *kubeconfig, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run(etcdDir, clientURL, peerURL, kubeconfig string, apiserverArgs []string) error {
	etcd, err := startEtcd(etcdDir, clientURL, peerURL)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	// The command installs the SIGTERM/SIGINT handler; its context ends on a signal.
	cmd := apiserver.NewAPIServerCommand()
	cmd.SetArgs(apiserverArgs)
	ctx := cmd.Context()
	go runPVController(ctx, kubeconfig)
	go runScheduler(ctx, kubeconfig)
	go runWorkloadControllers(ctx, kubeconfig)
	go runProtectionControllers(ctx, kubeconfig)
	fmt.Fprintln(os.Stderr, "controlplane: etcd ready, starting kube-apiserver")
	if err := cmd.Execute(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	return nil
}

func startEtcd(dir, clientURL, peerURL string) (*embed.Etcd, error) {
	cu, err := url.Parse(clientURL)
	if err != nil {
		return nil, err
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("not ready after 60s")
	}
}

// runPVController binds claims to volumes, as kube-controller-manager's
// persistentvolume-binder controller does. Only static binding: no volume plugins.
func runPVController(ctx context.Context, kubeconfig string) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		klog.Fatalf("pv controller: kubeconfig: %v", err)
	}
	client := kubernetes.NewForConfigOrDie(config)
	for ctx.Err() == nil { // wait until the API server answers
		if _, err := client.Discovery().ServerVersion(); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	ctrl, err := persistentvolume.NewController(ctx, persistentvolume.ControllerParameters{
		KubeClient:     client,
		SyncPeriod:     15 * time.Second,
		VolumeInformer: factory.Core().V1().PersistentVolumes(),
		ClaimInformer:  factory.Core().V1().PersistentVolumeClaims(),
		ClassInformer:  factory.Storage().V1().StorageClasses(),
		PodInformer:    factory.Core().V1().Pods(),
		NodeInformer:   factory.Core().V1().Nodes(),
		// As kube-controller-manager (its default): a claim of a StorageClass is handed to
		// the class's external provisioner (annotation and event), for WaitForFirstConsumer
		// once the scheduler has picked a node.
		EnableDynamicProvisioning: true,
	})
	if err != nil {
		klog.Fatalf("pv controller: %v", err)
	}
	factory.Start(ctx.Done())
	fmt.Fprintln(os.Stderr, "controlplane: persistentvolume-binder controller started")
	ctrl.Run(ctx)
}
