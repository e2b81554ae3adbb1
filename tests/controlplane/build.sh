#!/usr/bin/env bash
# Builds the test control plane (embedded etcd + kube-apiserver + PV binder + kube-scheduler
# and the Deployment and StatefulSet controllers)
# once per Kubernetes version and source hash, cached under
# ${XDG_CACHE_HOME:-~/.cache}/ebs-pv-registrar/controlplane-<version>-<hash>/.
# Prints progress on stderr and the binary's path on stdout. A cache hit is instant.
# Env: GO (the go binary), GO_BUILD_P (parallel compile jobs, default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
go_bin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$go_bin" ] || { echo "build.sh: go not found (set GO=/path/to/go)" >&2; exit 1; }

k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$here/go.mod")"
src_hash="$(cd "$here" && { cat build.sh go.mod go.sum ./*.go; "$go_bin" version; } | sha256sum | cut -c1-12)"
out_dir="${XDG_CACHE_HOME:-$HOME/.cache}/ebs-pv-registrar/controlplane-${k8s_version}-${src_hash}"
binary="$out_dir/controlplane"

if [ -x "$binary" ]; then
    echo "$binary"
    exit 0
fi

mkdir -p "$out_dir"
exec 9>"$out_dir/.lock"
flock 9 # another build of the same sources: wait for it
if [ -x "$binary" ]; then
    echo "$binary"
    exit 0
fi

start=$SECONDS
log="$out_dir/build.log"
echo "controlplane: building kubernetes $k8s_version (sources $src_hash) into $out_dir" >&2
echo "controlplane: a cold build takes about 8-10 minutes on 2 cores (~3 GB of Go build cache); log: $log" >&2
cd "$here"
export GOFLAGS=-mod=mod CGO_ENABLED=0
"$go_bin" mod download >"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
total="$("$go_bin" list -deps . 2>>"$log" | wc -l)"
echo "controlplane: modules ready after $((SECONDS - start))s; up to $total packages to compile" >&2

# The version the API server reports (a module build has no git data to take it from).
minor="$(echo "$k8s_version" | cut -d. -f2)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
done

# go build -v names each package it compiles: report every 100th with the elapsed time.
set +e
"$go_bin" build -v -p "${GO_BUILD_P:-2}" -trimpath -ldflags="$ldflags" -o "$binary.tmp" . 2>&1 \
    | tee -a "$log" \
    | { n=0; while IFS= read -r line; do
            n=$((n + 1))
            if [ $((n % 100)) -eq 0 ]; then
                printf 'controlplane: [%4ds] %d/%d %s\n' $((SECONDS - start)) "$n" "$total" "$line" >&2
            fi
        done; }
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "controlplane: build FAILED after $((SECONDS - start))s (exit $status); last lines of $log:" >&2
    tail -n 30 "$log" >&2
    rm -f "$binary.tmp"
    exit "$status"
fi
mv "$binary.tmp" "$binary"
# Builds of older sources are dead weight (~125 MB each), but another checkout may still use
# one: keep the three newest, drop the rest (skipped while another build holds its lock).
ls -1dt "${out_dir%/*}"/controlplane-*/ | tail -n +4 | while IFS= read -r old; do
    old="${old%/}"
    [ "$old" = "$out_dir" ] && continue
    (flock -n 8 && rm -rf "$old") 8>"$old/.lock" || true
done
echo "controlplane: built in $((SECONDS - start))s, $(du -h "$binary" | cut -f1): $binary" >&2
echo "$binary"
