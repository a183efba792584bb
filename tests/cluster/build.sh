#!/usr/bin/env bash
# Build the binaries of the test cluster into the folder given as $1 (default: build/).
#
# Every file is named for the version of the module it comes from (ours, pause and netcheck,
# for a hash of their source), and a file that is present is never rebuilt. Each group of
# binaries is compiled by one `go build` so that their shared packages compile once:
#   kube/        Kubernetes (k8s.io/kubernetes, pinned in kube/go.mod), etcd (the version
#                that Kubernetes release is built against), and our pause and netcheck
#                programs for the images built here
#   containerd/  containerd, its runc shim, ctr, and the CNI plugins of the bridge network
#   coredns/     CoreDNS with the plugins of kubeadm's Corefile
#   kube-router/ kube-router, whose network policy controller alone enforces NetworkPolicies
#                (kube-router/go.mod keeps the versions of its dependencies that its own
#                go.mod pins)
# Everything is static (CGO_ENABLED=0): the binaries run on the host and, for pause and
# netcheck, alone in an image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:-$here/../../build}")
mkdir -p "$out"

mod_version() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }
src_hash() { cat "$@" | sha256sum | cut -c1-12; }

# build_group DIR LDFLAGS TAGS NAME=PACKAGE... builds the missing NAMEs into $out.
build_group() {
    local dir=$1 ldflags=$2 tags=$3
    shift 3
    local names=() pkgs=() spec
    for spec in "$@"; do
        if [[ ! -e $out/${spec%%=*} ]]; then
            names+=("${spec%%=*}")
            pkgs+=("${spec#*=}")
        fi
    done
    ((${#names[@]})) || return 0
    local tmp
    tmp=$(mktemp -d "$out/.build-XXXXXX")
    echo "building ${names[*]} (in $dir)"
    local start=$SECONDS
    (cd "$here/$dir" && CGO_ENABLED=0 nice -n 10 go build -trimpath -tags "$tags" \
        -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
    echo "built ${names[*]} in $((SECONDS - start)) s"
    local i base
    for i in "${!names[@]}"; do
        base=$(basename "${pkgs[i]}")
        [[ ${pkgs[i]} == . ]] && base=$dir
        mv "$tmp/$base" "$out/${names[i]}"
    done
    rmdir "$tmp"
}

k8s=$(mod_version kube k8s.io/kubernetes)
etcd=$(mod_version kube go.etcd.io/etcd/server/v3)
# Without these the binaries report v0.0.0-master: the kubelet would register its node with
# that version, and kubectl would warn about a version skew with the API server.
minor=${k8s#v*.}
minor=${minor%%.*}
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=${k8s:1:1} -X $pkg.gitMinor=$minor"
    kube_ldflags+=" -X $pkg.gitTreeState=clean"
done
kube_specs=()
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    kube_specs+=("$cmd-$k8s=k8s.io/kubernetes/cmd/$cmd")
done
kube_specs+=("etcd-$etcd=./etcd")
kube_specs+=("pause-$(src_hash "$here/kube/pause/main.go")=./pause")
kube_specs+=("netcheck-$(src_hash "$here/kube/netcheck/main.go")=./netcheck")
build_group kube "$kube_ldflags" "" "${kube_specs[@]}"

ctrd=$(mod_version containerd github.com/containerd/containerd/v2)
cni=$(mod_version containerd github.com/containernetworking/plugins)
ctrd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$ctrd"
ctrd_ldflags+=" -X github.com/containerd/containerd/v2/version.Revision=$ctrd"
cni_pkg=github.com/containernetworking/plugins/plugins
# The CNI plugins go in a folder of their own: containerd looks them up by their bare names.
mkdir -p "$out/cni-plugins-$cni"
# urfave_cli_no_docs and no_grpc (shim) are the tags of containerd's own release build; the
# btrfs snapshotter needs cgo and is left out by CGO_ENABLED=0.
build_group containerd "$ctrd_ldflags" "urfave_cli_no_docs" \
    "containerd-$ctrd=github.com/containerd/containerd/v2/cmd/containerd" \
    "ctr-$ctrd=github.com/containerd/containerd/v2/cmd/ctr" \
    "cni-plugins-$cni/bridge=$cni_pkg/main/bridge" \
    "cni-plugins-$cni/loopback=$cni_pkg/main/loopback" \
    "cni-plugins-$cni/host-local=$cni_pkg/ipam/host-local" \
    "cni-plugins-$cni/portmap=$cni_pkg/meta/portmap" \
    "cni-plugins-$cni/firewall=$cni_pkg/meta/firewall"
build_group containerd "$ctrd_ldflags" "urfave_cli_no_docs no_grpc" \
    "containerd-shim-runc-v2-$ctrd=github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"

coredns=$(mod_version coredns github.com/coredns/coredns)
build_group coredns "-s -w" "" "coredns-$coredns=."

kr=$(mod_version kube-router github.com/cloudnativelabs/kube-router/v2)
kr_date=$(cd "$here/kube-router" && go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z07:00"}}' \
    github.com/cloudnativelabs/kube-router/v2)
# Its release build sets these two; without them it logs "Running kube-router version , built
# on ,". The date is that of the module's commit, so that a rebuild gives the same file.
kr_ldflags="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$kr"
kr_ldflags+=" -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=$kr_date"
build_group kube-router "$kr_ldflags" "" \
    "kube-router-$kr=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
