// Package vmtest tells tests whether they run inside the vigil test VM: a
// Debian cloud kernel with IPVS, booted under qemu by scripts/vm/exec.sh
// (`make test-vm`; see docs/vm.md). Tests that program the kernel's IPVS
// table carry the build tag vm and start with Require, so that they never
// touch the IPVS table of the machine running `go test`.
package vmtest

import (
	"os"
	"strings"
)

// EnvVar is the environment variable scripts/vm/exec.sh sets to "1" for the
// test binary inside the VM.
const EnvVar = "VIGIL_IN_VM"

// markerPath is written into the VM's initramfs by scripts/vm/prepare.sh; it
// holds the kernel release and the Debian package it came from. A variable
// so that tests can point it elsewhere.
var markerPath = "/etc/vigil-vm/kernel"

// InVM reports whether the process runs inside the vigil test VM: EnvVar is
// "1" and the VM's marker file exists. Both are required so that a stray
// VIGIL_IN_VM=1 on a workstation does not let tests reprogram its IPVS table.
func InVM() bool {
	if os.Getenv(EnvVar) != "1" {
		return false
	}
	_, err := os.Stat(markerPath)
	return err == nil
}

// Kernel returns the VM's kernel release and the Debian package (name and
// version) it was taken from, as recorded by prepare.sh, e.g.
// "6.1.0-56-cloud-amd64 linux-image-6.1.0-56-cloud-amd64 6.1.192-2". Outside
// the VM it returns the error from reading the marker file.
func Kernel() (string, error) {
	b, err := os.ReadFile(markerPath)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// TB is the part of testing.TB that Require uses; *testing.T, *testing.B
// and *testing.F satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// Require stops the test unless it runs inside the VM. When the environment
// has CI=true it fails the test (a CI run that was meant to reach the VM and
// did not must not pass silently), otherwise it skips it. Both messages say
// how to run it: `make test-vm`.
func Require(t TB) {
	t.Helper()
	if InVM() {
		return
	}
	const msg = "vmtest: this test needs the vigil test VM (a kernel with IPVS); run `make test-vm`"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s", msg)
		return
	}
	t.Skipf("%s", msg)
}
