// Package spawn starts child processes that carry PR_SET_PDEATHSIG from
// one OS thread that never exits.
//
// A test that starts servers wants them to die with it, even when it
// crashes: SysProcAttr.Pdeathsig = SIGKILL. The kernel delivers that
// signal when the *thread* that forked the child exits, not the process,
// and Go destroys a thread whose goroutine exits while locked to it, which
// network-namespace code does on purpose. Forking from an arbitrary thread
// would therefore let an unrelated goroutine's end kill the child. Start
// forks every child from a single locked thread that lives as long as the
// process.
package spawn

import (
	"os/exec"
	"runtime"
	"sync"
)

type request struct {
	cmd  *exec.Cmd
	errc chan error
}

var (
	once     sync.Once
	requests chan request
)

// Start is cmd.Start run on the spawning thread.
func Start(cmd *exec.Cmd) error {
	once.Do(func() {
		requests = make(chan request)
		go func() {
			runtime.LockOSThread()
			for req := range requests {
				req.errc <- req.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	requests <- request{cmd: cmd, errc: errc}
	return <-errc
}
