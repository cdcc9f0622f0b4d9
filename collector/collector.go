// Package collector holds vigil's Prometheus collectors, one file per area
// (vrrp.go; lb.go for IPVS and health checks; lateness.go; config.go;
// build.go). In the style of node_exporter, each collector builds its
// descriptors once and, on every scrape, reads a snapshot function
// supplied by the package that owns the state; Collect never does network
// or disk I/O. The one exception to snapshots is CheckLateness, a
// histogram the check scheduler feeds directly.
//
// docs/metrics.md documents every metric; DocumentedMetrics parses it and
// CompareDocs reports where it and an exposition disagree, so tests (and an
// end-to-end scrape of a running vigil) keep the two in step.
package collector

// Namespace is the prefix of every metric vigil exposes itself (as opposed
// to the standard go_* and process_* metrics).
const Namespace = "vigil"
