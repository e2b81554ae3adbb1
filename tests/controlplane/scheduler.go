package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// runScheduler runs kube-scheduler with its default profile: no leader election (one
// instance), no serving endpoint. It is kube-scheduler's own Setup and Run; only the command
// wrapper is left out, because that installs a second signal handler (kube-apiserver's
// command owns the one a process may have) and kube-apiserver's command has already applied
// the shared feature gates and component versions.
func runScheduler(ctx context.Context, kubeconfig string) {
	opts := options.NewOptions()
	flags := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	for _, set := range opts.Flags.FlagSets {
		flags.AddFlagSet(set)
	}
	args := []string{"--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0"}
	if err := flags.Parse(args); err != nil {
		klog.Fatalf("scheduler: flags: %v", err)
	}
	informerName, err := cache.NewInformerName("kube-scheduler")
	if err != nil {
		klog.Fatalf("scheduler: %v", err)
	}
	opts.InformerName = informerName
	waitForAPIServer(ctx, kubeconfig)
	completed, sched, err := scheduler.Setup(ctx, opts)
	if err != nil {
		klog.Fatalf("scheduler: %v", err)
	}
	fmt.Fprintln(os.Stderr, "controlplane: kube-scheduler started")
	if err := scheduler.Run(ctx, completed, sched); err != nil && ctx.Err() == nil {
		klog.Fatalf("scheduler: %v", err)
	}
}
