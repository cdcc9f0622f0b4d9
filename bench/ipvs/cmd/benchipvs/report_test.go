package main

import (
	"strings"
	"testing"
)

func TestReplaceSection(t *testing.T) {
	sec := startMarker + "\nnew\n" + endMarker + "\n"
	for _, tt := range []struct {
		name, doc, want, err string
	}{
		{name: "empty file", doc: "", want: sec},
		{name: "appended", doc: "# Title\n\ntext\n", want: "# Title\n\ntext\n\n" + sec},
		{name: "no final newline", doc: "# Title", want: "# Title\n\n" + sec},
		{name: "replaced in the middle", doc: "a\n" + startMarker + "\nold\nold\n" + endMarker + "\nb\n", want: "a\n" + sec + "b\n"},
		{name: "replaced at the end", doc: "a\n\n" + startMarker + "\nold\n" + endMarker + "\n", want: "a\n\n" + sec},
		{name: "start only", doc: "a\n" + startMarker + "\nb\n", err: "want one"},
		{name: "end only", doc: "a\n" + endMarker + "\n", err: "want one"},
		{name: "twice", doc: strings.Repeat(startMarker+"\n"+endMarker+"\n", 2), err: "want one"},
		{name: "reversed", doc: endMarker + "\n" + startMarker + "\n", err: "comes before"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceSection(tt.doc, sec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			// Idempotent: rewriting again changes nothing.
			if again, err := replaceSection(got, sec); err != nil || again != got {
				t.Errorf("second rewrite: %q, %v", again, err)
			}
		})
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkScrapeLB1000x10/gather-2         	       3	 430725597 ns/op	    242012 series	192542256 B/op	 4124931 allocs/op
BenchmarkScrapeLB1000x10/http-gzip-2      	       2	 965348391 ns/op	   1341913 body-bytes	201096720 B/op	 4125551 allocs/op
BenchmarkScrapeLB1000x10/gather-2         	       3	 420000000 ns/op	    242012 series	192542256 B/op	 4124931 allocs/op
PASS
`
	res := parseBench(out)
	if len(res) != 2 || res[0].Name != "BenchmarkScrapeLB1000x10/gather" || res[1].Name != "BenchmarkScrapeLB1000x10/http-gzip" {
		t.Fatalf("parsed %+v", res)
	}
	if m, _ := res[0].Median("ns/op"); m != 425362798.5 {
		t.Errorf("median ns/op %v", m)
	}
	if v, ok := res[1].Median("body-bytes"); !ok || v != 1341913 {
		t.Errorf("body-bytes %v %v", v, ok)
	}
}

func TestParseTop(t *testing.T) {
	top := `      flat  flat%   sum%        cum   cum%
     0.85s 24.85% 24.85%      0.85s 24.85%  internal/runtime/syscall/linux.Syscall6
         0     0%     0%      2.54s 74.27%  github.com/vigil-lb/vigil/ipvs.(*NetlinkKernel).Services
      10ms  4.76%  9.52%       10ms  4.76%  slices.insertionSortCmpFunc[go.shape.struct { Address net/netip.AddrPort }] (inline)
`
	flat, cum := parseTop(top)
	if flat["internal/runtime/syscall/linux.Syscall6"] != 24.85 || cum["github.com/vigil-lb/vigil/ipvs.(*NetlinkKernel).Services"] != 74.27 {
		t.Errorf("flat %v cum %v", flat, cum)
	}
	if cum["slices.insertionSortCmpFunc[go.shape.struct { Address net/netip.AddrPort }] (inline)"] != 4.76 {
		t.Errorf("names with spaces: %v", cum)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 242012: "242,012", -11000: "-11,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
