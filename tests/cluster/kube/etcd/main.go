// Command etcd is the etcd server that k8s.io/kubernetes v1.37.2 is tested with, built from
// this module so that it shares the module graph (grpc, protobuf, otel) with the Kubernetes
// binaries: etcd's own modules carry replace directives, so `go install` of them fails.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
