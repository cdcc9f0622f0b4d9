package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	ipvsbench "github.com/vigil-lb/vigil/bench/ipvs"
)

// Profile is a CPU profile of vigil's passes taken in the VM, saved on the
// host, with `go tool pprof -top` views of it.
type Profile struct {
	Name  string   // "apply" or "weight"
	Files []string // pprof files (several are merged)
	Top   string   // go tool pprof -top, first lines
	Cum   map[string]float64
	Flat  map[string]float64
}

// ipvsadmFiles finds ipvsadm, ipvsadm-restore and the shared libraries and
// dynamic loader ipvsadm needs (ldd), and returns VIGIL_VM_INCLUDE (the
// files, which land in the VM at their real paths) and VIGIL_BENCH_LINKS
// (the names the loader uses, to be linked to those real paths).
func ipvsadmFiles(ctx context.Context) (ipvsadm, restore, include, links string, err error) {
	if ipvsadm, err = exec.LookPath("ipvsadm"); err != nil {
		return "", "", "", "", fmt.Errorf("%w (apt-get install ipvsadm)", err)
	}
	if restore, err = exec.LookPath("ipvsadm-restore"); err != nil {
		return "", "", "", "", fmt.Errorf("%w (apt-get install ipvsadm)", err)
	}
	out, err := exec.CommandContext(ctx, "ldd", ipvsadm).Output()
	if err != nil {
		return "", "", "", "", fmt.Errorf("ldd %s: %w", ipvsadm, err)
	}
	paths := []string{ipvsadm, restore}
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				paths = append(paths, f)
			}
		}
	}
	var inc, lnk []string
	for _, p := range paths {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", "", "", "", err
		}
		if strings.ContainsAny(p+real, ":=") {
			return "", "", "", "", fmt.Errorf("%s: path with ':' or '='", p)
		}
		inc = append(inc, real)
		if real != p {
			lnk = append(lnk, p+"="+real)
		}
	}
	return ipvsadm, restore, strings.Join(inc, ":"), strings.Join(lnk, ":"), nil
}

func runTable(ctx context.Context, r *Report, root string, logger *slog.Logger) error {
	o := r.Opts
	ipvsadm, restore, include, links, err := ipvsadmFiles(ctx)
	if err != nil {
		return err
	}
	env := []string{
		"CGO_ENABLED=0",
		ipvsbench.EnvRun + "=1",
		ipvsbench.EnvRuns + "=" + strconv.Itoa(o.Runs),
		ipvsbench.EnvServices + "=" + strconv.Itoa(o.Services),
		ipvsbench.EnvDests + "=" + strconv.Itoa(o.Dests),
		ipvsbench.EnvProfileRounds + "=" + strconv.Itoa(o.ProfileRounds),
		ipvsbench.EnvIpvsadm + "=" + ipvsadm,
		ipvsbench.EnvRestore + "=" + restore,
		ipvsbench.EnvLinks + "=" + links,
		"VIGIL_VM_INCLUDE=" + include,
	}
	args := []string{"test", "-count=1", "-tags", "vm", "-exec", filepath.Join(root, "scripts/vm/exec.sh"),
		"-run", "^TestIPVSTableBenchmark$", "-v", "-timeout", "120m", "./bench/ipvs/"}
	r.Commands = append(r.Commands, commandLine(env, append([]string{"go"}, args...)))
	cmd := goCmd(ctx, root, env, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var result []byte
	profiles := map[string]*strings.Builder{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var tail []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ipvsbench.ResultPrefix):
			result = []byte(strings.TrimPrefix(line, ipvsbench.ResultPrefix))
		case strings.HasPrefix(line, ipvsbench.ProfilePrefix):
			name, chunk, ok := strings.Cut(strings.TrimPrefix(line, ipvsbench.ProfilePrefix), " ")
			if !ok {
				return fmt.Errorf("bad profile line %.80q", line)
			}
			if profiles[name] == nil {
				profiles[name] = &strings.Builder{}
			}
			profiles[name].WriteString(chunk)
		default:
			fmt.Fprintln(os.Stderr, "vm:", line)
			tail = append(tail, line)
			if len(tail) > 40 {
				tail = tail[1:]
			}
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, strings.Join(tail, "\n"))
	}
	if result == nil {
		return fmt.Errorf("the VM test printed no %q line:\n%s", ipvsbench.ResultPrefix, strings.Join(tail, "\n"))
	}
	var tr ipvsbench.TableResult
	if err := json.Unmarshal(result, &tr); err != nil {
		return fmt.Errorf("decoding the VM test's result: %w", err)
	}
	r.Table = &tr
	if len(profiles) > 0 {
		if err := saveProfiles(ctx, r, root, profiles, logger); err != nil {
			return err
		}
	}
	return nil
}

// saveProfiles writes the profiles to the profile directory and reads
// them with go tool pprof. Profiles named "<name>-<n>" are merged.
func saveProfiles(ctx context.Context, r *Report, root string, profiles map[string]*strings.Builder, logger *slog.Logger) error {
	dir := r.Opts.ProfileDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "vigil-bench-ipvs-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	groups := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(profiles)) {
		b, err := base64.StdEncoding.DecodeString(profiles[name].String())
		if err != nil {
			return fmt.Errorf("profile %s: %w", name, err)
		}
		path := filepath.Join(dir, "cpu-"+name+".pprof")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		group := regexp.MustCompile(`-\d+$`).ReplaceAllString(name, "")
		groups[group] = append(groups[group], path)
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		p := Profile{Name: g, Files: groups[g]}
		top, err := pprofTop(ctx, root, false, p.Files)
		if err != nil {
			return err
		}
		cum, err := pprofTop(ctx, root, true, p.Files)
		if err != nil {
			return err
		}
		p.Top = top
		p.Flat, _ = parseTop(top)
		_, p.Cum = parseTop(cum)
		r.Profiles = append(r.Profiles, p)
		logger.Info("CPU profile", "pass", g, "files", p.Files)
	}
	return nil
}

// pprofTop runs go tool pprof -top (sorted by cumulative time with cum)
// over files and returns its output from the column header on.
func pprofTop(ctx context.Context, root string, cum bool, files []string) (string, error) {
	args := []string{"tool", "pprof", "-top", "-nodecount=400"}
	if cum {
		args = append(args, "-cum")
	}
	cmd := goCmd(ctx, root, nil, append(args, files...)...)
	out, err := runLogged(cmd)
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w", err)
	}
	s := string(out)
	if i := strings.Index(s, "      flat  flat%"); i >= 0 {
		s = s[i:]
	}
	return s, nil
}

// parseTop reads the rows of go tool pprof -top: flat, flat%, sum%, cum,
// cum%, function; it returns flat% and cum% by function.
func parseTop(top string) (flat, cum map[string]float64) {
	flat, cum = map[string]float64{}, map[string]float64{}
	for _, line := range strings.Split(top, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[1], "%") || !strings.HasSuffix(f[4], "%") {
			continue
		}
		fp, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		cp, err2 := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		name := strings.Join(f[5:], " ")
		flat[name], cum[name] = fp, cp
	}
	return flat, cum
}
