package collector

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHashMetricValue(t *testing.T) {
	sum := sha256.Sum256([]byte("global:\n  router_id: lb1\n"))
	for _, tc := range []struct {
		name, hash string
		want       float64
		err        string
	}{
		{name: "nothing loaded", hash: "", want: 0},
		// SHA-256("") = e3b0c44298fc…: bytes e3 b0 c4 42 98 fc read
		// little-endian.
		{name: "empty file", hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want: float64(0xfc9842c4b0e3)},
		{name: "upper case", hash: "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", want: float64(0xfc9842c4b0e3)},
		{name: "only the first 6 bytes count", hash: "e3b0c44298fcffffffff", want: float64(0xfc9842c4b0e3)},
		{name: "real digest", hash: hex.EncodeToString(sum[:]),
			want: float64(uint64(sum[0]) | uint64(sum[1])<<8 | uint64(sum[2])<<16 | uint64(sum[3])<<24 | uint64(sum[4])<<32 | uint64(sum[5])<<40)},
		{name: "all ones stays exact", hash: "ffffffffffff", want: 281474976710655},
		{name: "not hex", hash: "zz", err: `config hash "zz": encoding/hex: invalid byte: U+007A 'z'`},
		{name: "too short", hash: "e3b0c4", err: `config hash "e3b0c4": 3 bytes, want at least 6`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hashMetricValue(tc.hash)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %.0f, want %.0f", got, tc.want)
			}
		})
	}
}

func TestConfigCollector(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state ReloadState
		want  string
	}{
		{
			name:  "failed reload after a success",
			state: testReloadState(),
			want: `
vigil_config_hash 2.77730885415139e+14
vigil_config_last_reload_success_timestamp_seconds 1.79531631e+09
vigil_config_last_reload_successful 0
`,
		},
		{
			name: "successful load",
			state: ReloadState{Hash: "ffffffffffff" + strings.Repeat("0", 52), Success: true,
				LastSuccess: time.Date(2026, 11, 22, 3, 0, 0, 500e6, time.UTC)},
			want: `
vigil_config_hash 2.81474976710655e+14
vigil_config_last_reload_success_timestamp_seconds 1.7953164005e+09
vigil_config_last_reload_successful 1
`,
		},
		{
			name:  "never loaded",
			state: ReloadState{},
			want: `
vigil_config_hash 0
vigil_config_last_reload_success_timestamp_seconds 0
vigil_config_last_reload_successful 0
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const help = `
# HELP vigil_config_hash Hash of the running configuration file: the first 6 bytes of its SHA-256 digest read as a little-endian integer, as alertmanager_config_hash does; nodes with equal values run the same file. 0 before the first successful load.
# TYPE vigil_config_hash gauge
# HELP vigil_config_last_reload_success_timestamp_seconds Unix time in seconds of the last successful configuration load or reload; 0 if none.
# TYPE vigil_config_last_reload_success_timestamp_seconds gauge
# HELP vigil_config_last_reload_successful Whether the last configuration load or reload succeeded (1) or failed (0); after a failure the previous configuration keeps running.
# TYPE vigil_config_last_reload_successful gauge
`
			state := tc.state
			c := NewConfig(func() ReloadState { return state })
			if err := testutil.CollectAndCompare(c, strings.NewReader(help+tc.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestConfigCollectorBadHash: a hash that is not hex is a bug in the
// caller; the scrape reports it instead of exposing a made-up value.
func TestConfigCollectorBadHash(t *testing.T) {
	r := prometheus.NewPedanticRegistry()
	r.MustRegister(NewConfig(func() ReloadState { return ReloadState{Hash: "not-hex", Success: true} }))
	mfs, err := r.Gather()
	if err == nil || !strings.Contains(err.Error(), `config hash "not-hex"`) {
		t.Fatalf("got error %v, want one naming the bad hash", err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if want := "vigil_config_last_reload_success_timestamp_seconds vigil_config_last_reload_successful"; strings.Join(names, " ") != want {
		t.Errorf("gathered %v, want the other metrics still: %s", names, want)
	}
}
