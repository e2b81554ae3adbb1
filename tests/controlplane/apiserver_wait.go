package main

import (
	"context"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// waitForAPIServer loads a kubeconfig and returns once the API server answers.
func waitForAPIServer(ctx context.Context, kubeconfig string) *rest.Config {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		klog.Fatalf("kubeconfig %s: %v", kubeconfig, err)
	}
	client := kubernetes.NewForConfigOrDie(config)
	for ctx.Err() == nil {
		if _, err := client.Discovery().ServerVersion(); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return config
}
