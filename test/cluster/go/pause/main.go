// Command pause is the process of every Pod sandbox in the node mode (test/cluster/README.md):
// it keeps the sandbox's namespaces alive, reaps orphaned children (it is PID 1 when the Pod
// shares its process namespace), and exits 0 on SIGTERM or SIGINT, 2 on anything unexpected.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
	os.Exit(2)
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
