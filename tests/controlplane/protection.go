package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/volume/pvcprotection"
	"k8s.io/kubernetes/pkg/controller/volume/pvprotection"
)

// runProtectionControllers runs kube-controller-manager's pvc-protection and pv-protection
// controllers. The API server's StorageObjectInUseProtection admission plugin gives every claim
// and PV a finalizer (kubernetes.io/pvc-protection, kubernetes.io/pv-protection); these
// controllers remove it once no pod uses the claim and no claim is bound to the PV, so a
// deleted claim or PV goes away as on a real cluster instead of staying Terminating.
func runProtectionControllers(ctx context.Context, kubeconfig string) {
	config := waitForAPIServer(ctx, kubeconfig)
	client := kubernetes.NewForConfigOrDie(config)
	logger := klog.FromContext(ctx)
	factory := informers.NewSharedInformerFactory(client, 0)
	core := factory.Core().V1()
	claims, err := pvcprotection.NewPVCProtectionController(
		logger, core.PersistentVolumeClaims(), core.Pods(), client)
	if err != nil {
		klog.Fatalf("pvc-protection controller: %v", err)
	}
	volumes, err := pvprotection.NewPVProtectionController(logger, core.PersistentVolumes(), client)
	if err != nil {
		klog.Fatalf("pv-protection controller: %v", err)
	}
	factory.Start(ctx.Done())
	fmt.Fprintln(os.Stderr, "controlplane: pvc-protection and pv-protection controllers started")
	go claims.Run(ctx, 1)
	volumes.Run(ctx, 1)
}
