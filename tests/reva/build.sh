#!/usr/bin/env bash
# Build revad at the reva version pinned in go.mod, into the path given as $1.
#
# reva's storage driver loader imports the EOS driver, whose go-eosgrpc dependency is not
# served by the Go module proxy at the version reva pins. The build vendors the module graph
# and, through `go build -overlay`, swaps that one loader file for ours, which registers every
# other storage driver. The rest of revad is reva's code, unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build.sh OUTPUT}")
cd "$here"
version=$(go list -m -f '{{.Version}}' github.com/cs3org/reva/v3)
echo "building revad $version -> $out"
go mod vendor
mkdir -p "$(dirname "$out")"
CGO_ENABLED=1 go build -mod=vendor -overlay overlay.json -trimpath \
    -ldflags "-X github.com/cs3org/reva/v3/cmd/revad.version=$version" \
    -o "$out.tmp" .
mv "$out.tmp" "$out"
"$out" -version
