package main

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/controller-manager/pkg/informerfactory"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/deployment"
	"k8s.io/kubernetes/pkg/controller/garbagecollector"
	"k8s.io/kubernetes/pkg/controller/replicaset"
	"k8s.io/kubernetes/pkg/controller/serviceaccount"
	"k8s.io/kubernetes/pkg/controller/statefulset"
)

// runWorkloadControllers runs the kube-controller-manager controllers a Deployment or a
// StatefulSet needs: deployment and replicaset (a Deployment gets its pods), statefulset (its
// pods, and a claim per volumeClaimTemplate and ordinal unless that claim exists already),
// serviceaccount (the `default` account that the ServiceAccount admission plugin requires of
// every pod) and the garbage collector (deleting a Deployment deletes its ReplicaSets and pods). There is no kubelet:
// pods are scheduled, never run; finishPodDeletions stands in for the kubelet's last step.
func runWorkloadControllers(ctx context.Context, kubeconfig string) {
	config := waitForAPIServer(ctx, kubeconfig)
	client := kubernetes.NewForConfigOrDie(config)
	logger := klog.FromContext(ctx)
	factory := informers.NewSharedInformerFactory(client, 0)
	apps, core := factory.Apps().V1(), factory.Core().V1()

	deployments, err := deployment.NewDeploymentController(
		ctx, apps.Deployments(), apps.ReplicaSets(), core.Pods(), client)
	if err != nil {
		klog.Fatalf("deployment controller: %v", err)
	}
	replicaSets := replicaset.NewReplicaSetController(
		ctx, apps.ReplicaSets(), core.Pods(), client, replicaset.BurstReplicas)
	statefulSets := statefulset.NewStatefulSetController(ctx, core.Pods(), apps.StatefulSets(),
		core.PersistentVolumeClaims(), apps.ControllerRevisions(), client)
	accounts, err := serviceaccount.NewServiceAccountsController(logger,
		core.ServiceAccounts(), core.Namespaces(), client,
		serviceaccount.DefaultServiceAccountsControllerOptions())
	if err != nil {
		klog.Fatalf("serviceaccount controller: %v", err)
	}
	finishPodDeletions(ctx, client, core.Pods().Informer())

	// The garbage collector watches every deletable resource through metadata informers
	// and refreshes that list from discovery, as kube-controller-manager sets it up.
	metadataClient := metadata.NewForConfigOrDie(config)
	metadataInformers := metadatainformer.NewSharedInformerFactory(metadataClient, 0)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
	informersStarted := make(chan struct{})
	collector, err := garbagecollector.NewGarbageCollector(ctx, client, metadataClient, mapper,
		garbagecollector.DefaultIgnoredResources(),
		informerfactory.NewInformerFactory(factory, metadataInformers), informersStarted)
	if err != nil {
		klog.Fatalf("garbage collector: %v", err)
	}

	factory.Start(ctx.Done())
	metadataInformers.Start(ctx.Done())
	close(informersStarted)
	const gcSyncPeriod = 30 * time.Second
	go collector.Run(ctx, 2, gcSyncPeriod)
	go collector.Sync(ctx, client.Discovery(), gcSyncPeriod)
	go accounts.Run(ctx, 1)
	go replicaSets.Run(ctx, 2)
	go statefulSets.Run(ctx, 2)
	fmt.Fprintln(os.Stderr, "controlplane: deployment, replicaset, statefulset, serviceaccount and garbage collector controllers started")
	deployments.Run(ctx, 2)
}

// finishPodDeletions completes the graceful deletion of pods bound to a node: the API
// server keeps such a pod (Terminating) until the node's kubelet has stopped its containers
// and deletes it with grace period 0 (kube-apiserver's pod strategy, CheckGracefulDelete).
// No containers run here, so that final delete follows at once.
func finishPodDeletions(ctx context.Context, client kubernetes.Interface, pods cache.SharedIndexInformer) {
	finish := func(obj interface{}) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.DeletionTimestamp == nil || pod.Spec.NodeName == "" {
			return
		}
		zero := int64(0)
		err := client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			klog.Errorf("finishing the deletion of pod %s/%s: %v", pod.Namespace, pod.Name, err)
		}
	}
	_, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    finish,
		UpdateFunc: func(_, obj interface{}) { finish(obj) },
	})
	if err != nil {
		klog.Fatalf("pod deletions: %v", err)
	}
}
