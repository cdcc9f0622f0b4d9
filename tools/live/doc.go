// Package live tests vigil's alerting rules (alerts/vigil.rules.yml) and
// Grafana dashboards (dashboards/*.json) the way a monitoring mixin is
// tested, against the real thing: vigil runs on two directors of a lab
// topology (internal/lab), and Prometheus, in a namespace of its own,
// scrapes them and evaluates the rules file unchanged.
//
// The tests check that every rule evaluates cleanly, that every dashboard
// query evaluates and returns data unless the lab cannot produce any (see
// allowedEmpty and the IPVS kernel series), and that the alerts an
// operator depends on fire within their `for:` plus a few scrape and
// evaluation intervals when a director crashes or the directors are
// partitioned, and resolve when the fault goes away.
//
// They need root, ip(8), nft(8), prometheus and busybox (see
// scripts/install-deps.sh); without them they skip, or fail under
// CI=true. Alerts have `for:` durations of minutes, so the scenarios run
// in parallel topologies:
//
//	cd tools && go test ./live -count=1 -v
//
// The lab's kernel has no IPVS, so vm_test.go (build tag vm) repeats the
// query check in the IPVS test VM (docs/vm.md): vigil programs the VM's
// real IPVS table, Prometheus runs beside it, and the test drives a FAULT,
// a reload, a webhook drain and a guard refusal; then every dashboard
// query must return data, IPVS kernel and actuator panels included, save
// the allowedEmpty entries marked InVM. `make test-vm` runs it.
package live
