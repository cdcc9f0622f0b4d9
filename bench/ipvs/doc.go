// Package ipvsbench holds the load-balancing benchmarks behind
// `make bench-ipvs`, which bench/ipvs/cmd/benchipvs runs side by side and
// writes into the bench-ipvs section of docs/benchmarks.md:
//
//   - Programming IPVS (table_vm_test.go, build tag vm, in the test VM of
//     docs/vm.md): a table of 1,000 virtual servers × 10 real servers applied
//     from an empty kernel and one weight changed on the full table, by
//     vigil's ipvs.Reconciler over the netlink kernel (a targeted pass, as
//     the daemon runs between full reads, and a pass that reads the whole
//     table) and by ipvsadm (ipvsadm-restore, ipvsadm -R, ipvsadm -e); and
//     vigil's passes that change nothing (targeted, full, restart, adopting
//     a table it did not create).
//   - Health-check capacity (capacity.go, on the host): check.Scheduler
//     running 10,000 TCP checks at a 1 s interval against listeners in a
//     network namespace of their own; CPU, RSS and scheduling lateness.
//   - Scrape cost (scrape_test.go, on the host): BenchmarkScrapeLB1000x10
//     gathers collector.NewLB over a 1,000 × 10 snapshot.
//
// The non-test code here is what the VM test and the driver share: the
// table, its ipvsadm restore file, the result records and their statistics.
package ipvsbench
