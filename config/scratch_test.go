package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestScratchCorpus(t *testing.T) {
	dir := os.ExpandEnv("$HOME/.cache/go-build/fuzz/github.com/vigil-lb/vigil/config/FuzzParse")
	files, _ := filepath.Glob(dir + "/*")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		lines := strings.SplitN(string(raw), "\n", 2)
		s := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")\n")
		data, err := strconv.Unquote(s)
		if err != nil {
			continue
		}
		start := time.Now()
		Parse([]byte(data), "f")
		if d := time.Since(start); d > 5*time.Millisecond {
			fmt.Println(filepath.Base(f), d, len(data))
		}
	}
}
