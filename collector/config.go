package collector

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReloadState is what the reloader knows about the configuration, for
// metrics.
type ReloadState struct {
	// Hash is the hex SHA-256 of the running configuration file's bytes
	// (config.Config.Hash). Empty before the first successful load.
	Hash string
	// Success tells whether the most recent load or reload succeeded. A
	// failed reload leaves the previous configuration (and Hash) running.
	Success bool
	// LastSuccess is when a configuration was last loaded successfully;
	// the zero time if never.
	LastSuccess time.Time
}

type configCollector struct {
	state func() ReloadState

	hash        *prometheus.Desc
	successful  *prometheus.Desc
	successTime *prometheus.Desc
}

// NewConfig returns a collector of the configuration metrics, modelled on
// Alertmanager's alertmanager_config_* metrics: vigil_config_hash,
// vigil_config_last_reload_successful and
// vigil_config_last_reload_success_timestamp_seconds. state is called once
// per scrape and must be cheap and safe for concurrent use.
func NewConfig(state func() ReloadState) prometheus.Collector {
	return &configCollector{
		state: state,
		hash: prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "config", "hash"),
			"Hash of the running configuration file: the first 6 bytes of its SHA-256 digest read as a little-endian integer, as alertmanager_config_hash does; nodes with equal values run the same file. 0 before the first successful load.",
			nil, nil),
		successful: prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "config", "last_reload_successful"),
			"Whether the last configuration load or reload succeeded (1) or failed (0); after a failure the previous configuration keeps running.",
			nil, nil),
		successTime: prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "config", "last_reload_success_timestamp_seconds"),
			"Unix time in seconds of the last successful configuration load or reload; 0 if none.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *configCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hash
	ch <- c.successful
	ch <- c.successTime
}

// Collect implements prometheus.Collector.
func (c *configCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.state()
	if h, err := hashMetricValue(s.Hash); err != nil {
		ch <- prometheus.NewInvalidMetric(c.hash, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.hash, prometheus.GaugeValue, h)
	}
	ch <- prometheus.MustNewConstMetric(c.successful, prometheus.GaugeValue, boolValue(s.Success))
	ch <- prometheus.MustNewConstMetric(c.successTime, prometheus.GaugeValue, timestampValue(s.LastSuccess))
}

// hashMetricValue turns a hex digest into a gauge value the way
// Alertmanager's md5HashAsMetricValue does (config/coordinator.go): the
// first 6 bytes of the digest, zero-extended to 8 and read as a
// little-endian uint64. 48 bits fit exactly in a float64's 53-bit
// mantissa, so equal files give equal values and a changed file almost
// surely a different one. Alertmanager hashes with MD5; vigil reuses the
// SHA-256 its config loader already computes. An empty hash (nothing
// loaded yet) is 0.
func hashMetricValue(hexDigest string) (float64, error) {
	if hexDigest == "" {
		return 0, nil
	}
	sum, err := hex.DecodeString(hexDigest)
	if err != nil {
		return 0, fmt.Errorf("config hash %q: %w", hexDigest, err)
	}
	if len(sum) < 6 {
		return 0, fmt.Errorf("config hash %q: %d bytes, want at least 6", hexDigest, len(sum))
	}
	var b [8]byte
	copy(b[:], sum[:6])
	return float64(binary.LittleEndian.Uint64(b[:])), nil
}

// boolValue is 1 for true and 0 for false.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// timestampValue is t as Unix seconds with sub-second precision, or 0 for
// the zero time.
func timestampValue(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	// Split so that whole seconds stay exact (UnixNano/1e9 rounds).
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
