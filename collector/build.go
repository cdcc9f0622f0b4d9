package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
)

// NewBuildInfo returns the collector of vigil_build_info, a constant 1
// labelled with the version, revision, branch, Go version, OS,
// architecture and build tags from github.com/prometheus/common/version.
// Release builds set those with -ldflags, e.g.
//
//	-X github.com/prometheus/common/version.Version=1.2.0
//	-X github.com/prometheus/common/version.Branch=main
//
// The revision and tags default to what the Go toolchain stamped into
// the binary.
func NewBuildInfo() prometheus.Collector {
	return versioncollector.NewCollector(Namespace)
}
