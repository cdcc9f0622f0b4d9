package collector

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/version"
)

func TestBuildInfo(t *testing.T) {
	saved := []*string{&version.Version, &version.Revision, &version.Branch,
		&version.GoVersion, &version.GoOS, &version.GoArch}
	old := make([]string, len(saved))
	for i, p := range saved {
		old[i] = *p
	}
	t.Cleanup(func() {
		for i, p := range saved {
			*p = old[i]
		}
	})
	version.Version, version.Revision, version.Branch = "1.2.0", "0123abc", "main"
	version.GoVersion, version.GoOS, version.GoArch = "go1.26.8", "linux", "amd64"

	want := fmt.Sprintf(`
# HELP vigil_build_info A metric with a constant '1' value labeled by version, revision, branch, goversion from which vigil was built, and the goos and goarch for the build.
# TYPE vigil_build_info gauge
vigil_build_info{branch="main",goarch="amd64",goos="linux",goversion="go1.26.8",revision="0123abc",tags=%q,version="1.2.0"} 1
`, version.GetTags())
	if err := testutil.CollectAndCompare(NewBuildInfo(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
