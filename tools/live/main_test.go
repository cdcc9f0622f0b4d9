package live

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// mainModule is the module vigil's binary and the files under test live in.
const mainModule = "github.com/vigil-lb/vigil"

var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain
	vigilBin  string
	buildErr  error
)

// liveScenarios is how many live tests there are. Each spends minutes
// waiting out `for:` durations while using little CPU, so they run all at
// once even where -parallel defaults to fewer (GOMAXPROCS): the total is
// then the longest scenario, not the sum of the longest few.
const liveScenarios = 5

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit && runtime.GOMAXPROCS(0) < liveScenarios {
		flag.Set("test.parallel", strconv.Itoa(liveScenarios))
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// vigilBinary builds vigil from the main module once per test binary and
// returns the path of the binary. Only the live tests that got past their
// prerequisites pay for the build.
func vigilBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, err = os.MkdirTemp("", "vigil-live-"); err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(buildDir, "vigil")
		cmd := exec.Command("go", "build", "-o", bin, mainModule+"/cmd/vigil")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building vigil in %s: %w\n%s", root, err, out)
			return
		}
		vigilBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return vigilBin
}

// repoRoot returns the directory of the main module's go.mod, the nearest
// one above the working directory (tools/live under go test) that declares
// module github.com/vigil-lb/vigil. tools/go.mod declares another module
// and is passed over.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && moduleName(mod) == mainModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of " + mainModule + " above the working directory")
		}
		dir = parent
	}
}

// moduleName returns the path of a go.mod's module directive.
func moduleName(mod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(mod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// mustRoot is repoRoot for tests.
func mustRoot(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
