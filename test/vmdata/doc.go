// Package vmdata proves vigil's data path on a real IPVS kernel: in the
// test VM (docs/vm.md) it runs vigil in-process as the director, with a
// client and real servers in network namespaces of their own, and checks
// what the client gets through the virtual address while real servers fail,
// quorum is lost, vigil restarts, and the IPVS table is changed behind
// vigil's back.
//
// The tests carry the build tag vm and run only inside the VM:
//
//	CGO_ENABLED=0 go test -count=1 -tags vm -exec $PWD/scripts/vm/exec.sh ./test/vmdata/ -v
//
// VIGIL_VMDATA_LOGS=1 prints vigil's debug log of every test, not only of
// failed ones.
package vmdata
