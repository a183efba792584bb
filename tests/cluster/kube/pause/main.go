// Command pause is the sandbox image's only process: it holds the pod's namespaces open,
// reaps the orphans it inherits as PID 1 of a shared PID namespace, and exits when the
// kubelet stops the sandbox. No registry is reachable from the test machine, so the image
// is built here rather than pulled as registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
