// Package check health-checks real servers the way keepalived's checkers
// do, for vigil's IPVS services.
//
// Probes (blackbox_exporter style): each Prober performs one attempt
// against a target, bounded by its context's deadline, and returns a
// Result whose Outcome is "success", "failure" or "timeout".
//
//	TCP      connect only                      keepalived TCP_CHECK
//	HTTP     request, status, body regexp/MD5   HTTP_GET, SSL_GET (TLS)
//	Command  run a program, dynamic weight      MISC_CHECK, misc_dynamic
//	UDP      datagram and expected reply        UDP_CHECK
//	DNS      query, rcode, answer present       DNS_CHECK
//	MySQL    login, SELECT 1, read_only, replica threads and lag
//
// Exec is the underlying command runner, also used for VRRP track scripts.
//
// Scheduling (seesaw's healthcheck core): a Scheduler runs many Checks,
// each in its own goroutine on its own interval, applies retries and
// rise/fall hysteresis (Hysteresis), reports transitions only through a
// callback, and keeps per-check counters that Snapshot copies for metrics
// without doing any I/O.
package check
