// Package daemon wires vigil together: it loads the configuration, runs the
// VRRP node and the tracked scripts, serves metrics, and reloads on request.
// It is the only package that imports vrrp, check, collector and config
// together; main stays thin and tests call Run directly.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vigil-lb/vigil/actuator"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/vigil-lb/vigil/check"
	"github.com/vigil-lb/vigil/collector"
	"github.com/vigil-lb/vigil/config"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/vrrp"
)

// Options configure Run.
type Options struct {
	ConfigFile      string
	ListenAddresses []string // empty: no web listener
	WebConfigFile   string   // exporter-toolkit TLS/basic auth file; "" for plain HTTP
	Logger          *slog.Logger
	// Reload receives a value for every reload request (SIGHUP). Requests
	// that arrive during a reload are coalesced.
	Reload <-chan struct{}
	// Platform is the kernel access; nil means vrrp.LinuxPlatform().
	Platform *vrrp.Platform
	// IPVS is the kernel's IPVS table; nil means ipvs.NewNetlinkKernel().
	IPVS ipvs.Kernel
	// Ready, if set, is called once the node is running and the listener
	// is up.
	Ready func()
}

// generation is one running configuration: a VRRP node and its scripts.
type generation struct {
	cfg    *config.Config
	node   *vrrp.Node
	cancel context.CancelFunc
	done   chan error // the node's Run result

	scriptsCancel context.CancelFunc
	scripts       sync.WaitGroup
}

func (g *generation) stopScripts() {
	g.scriptsCancel()
	g.scripts.Wait()
}

type daemon struct {
	opts     Options
	logger   *slog.Logger
	platform vrrp.Platform

	current  atomic.Pointer[generation]
	reload   atomic.Pointer[collector.ReloadState]
	lb       *lb
	act      *actuator.Actuator
	lateness *collector.CheckLateness
	// cfg is the configuration in force, for readers outside Run.
	cfg atomic.Pointer[config.Config]
}

// Run loads opts.ConfigFile and runs until ctx is cancelled. A bad initial
// configuration is an error; a bad configuration on reload is logged,
// counted in vigil_config_last_reload_successful, and the running
// configuration stays in force.
func Run(ctx context.Context, opts Options) error {
	d := &daemon{opts: opts, logger: opts.Logger}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	if opts.Platform != nil {
		d.platform = *opts.Platform
	} else {
		d.platform = vrrp.LinuxPlatform()
	}
	cfg, err := config.Load(opts.ConfigFile)
	if err != nil {
		return err
	}
	lbCfg, err := translateLB(cfg, d.logger)
	if err != nil {
		return err
	}
	kernel := opts.IPVS
	if kernel == nil {
		kernel = ipvs.NewNetlinkKernel()
	}
	d.lateness = collector.NewCheckLateness()
	if d.lb, err = newLB(kernel, cfg.Global.StateDir, d.lateness.Observe, d.logger); err != nil {
		return err
	}
	lbCtx, stopLB := context.WithCancel(context.Background())
	lbDone := make(chan struct{})
	go func() { defer close(lbDone); d.lb.run(lbCtx) }()
	defer func() { stopLB(); <-lbDone }()
	gen, err := d.start(cfg)
	if err != nil {
		return err
	}
	d.current.Store(gen)
	defer d.stop(gen)
	d.cfg.Store(cfg)
	d.act, err = actuator.New(cfg.Actuator, actuator.Options{
		Executor: executor{d},
		StateDir: cfg.Global.StateDir,
		RouterID: cfg.Global.RouterID,
		Status:   d.actuatorStatus,
		Logger:   d.logger.With("component", "actuator"),
	})
	if err != nil {
		return err
	}
	// Drains, weights and holds persisted by an earlier run apply again,
	// before the load balancer's first pass: a drained server must not get
	// its weight back for a moment after a restart.
	if err := d.act.Sync(ctx); err != nil {
		d.logger.Error("re-applying persisted overrides", "err", err)
	}
	if err := d.lb.apply(ctx, lbCfg, drainGraces(cfg)); err != nil {
		return err
	}
	actCtx, stopAct := context.WithCancel(context.Background())
	actDone := make(chan struct{})
	go func() { defer close(actDone); d.act.Run(actCtx) }()
	defer func() { stopAct(); <-actDone }()
	d.cfg.Store(cfg)
	d.reload.Store(&collector.ReloadState{Hash: cfg.Hash, Success: true, LastSuccess: time.Now()})
	d.logger.Info("vigil started", "config", opts.ConfigFile, "instances", len(cfg.VRRPInstances), "router_id", cfg.Global.RouterID)

	srvErr := make(chan error, 1)
	var srv *http.Server
	if len(opts.ListenAddresses) > 0 {
		srv = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second}
		addrs := opts.ListenAddresses
		systemd := false
		flags := &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &opts.WebConfigFile}
		go func() { srvErr <- web.ListenAndServe(srv, flags, d.logger.With("component", "web")) }()
	}
	if opts.Ready != nil {
		opts.Ready()
	}

	var runErr error
loop:
	for {
		gen := d.current.Load()
		select {
		case <-ctx.Done():
			break loop
		case err := <-srvErr:
			if !errors.Is(err, http.ErrServerClosed) {
				runErr = fmt.Errorf("web listener: %w", err)
			}
			break loop
		case err := <-gen.done:
			// The node stopped on its own: that is a failure.
			gen.done <- err
			runErr = fmt.Errorf("vrrp node stopped: %w", err)
			break loop
		case <-opts.Reload:
			if err := d.doReload(); err != nil {
				d.logger.Error("reload failed; keeping the running configuration", "err", err)
			}
		}
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	d.logger.Info("vigil stopped")
	return runErr
}

// doReload loads and validates the new file; only a valid file reaches the
// node, which opens what it needs before changing anything (vrrp.Node.Reload).
func (d *daemon) doReload() error {
	prev := d.reload.Load()
	fail := func(err error) error {
		d.reload.Store(&collector.ReloadState{Hash: prev.Hash, Success: false, LastSuccess: prev.LastSuccess})
		return err
	}
	cfg, err := config.Load(d.opts.ConfigFile)
	if err != nil {
		return fail(err)
	}
	old := d.current.Load()
	if cfg.Hash == old.cfg.Hash {
		d.logger.Info("configuration unchanged", "hash", cfg.Hash)
		d.reload.Store(&collector.ReloadState{Hash: cfg.Hash, Success: true, LastSuccess: time.Now()})
		return nil
	}
	nodeCfg, err := NodeConfig(cfg)
	if err != nil {
		return fail(err)
	}
	lbCfg, err := translateLB(cfg, d.logger)
	if err != nil {
		return fail(err)
	}
	if err := d.act.Reload(cfg.Actuator); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := old.node.Reload(ctx, nodeCfg); err != nil {
		return fail(err)
	}
	if err := d.lb.apply(ctx, lbCfg, drainGraces(cfg)); err != nil {
		// The checks were invalid; nothing of the load balancer changed,
		// but the VRRP part is already applied.
		return fail(err)
	}
	if !reflect.DeepEqual(old.cfg.VRRPScripts, cfg.VRRPScripts) {
		old.stopScripts()
		d.startScripts(old, cfg.VRRPScripts)
	}
	old.cfg = cfg
	d.cfg.Store(cfg)
	if err := d.act.Sync(ctx); err != nil {
		d.logger.Error("re-applying overrides after reload", "err", err)
	}
	d.reload.Store(&collector.ReloadState{Hash: cfg.Hash, Success: true, LastSuccess: time.Now()})
	d.logger.Info("configuration reloaded", "hash", cfg.Hash)
	return nil
}

func (d *daemon) start(cfg *config.Config) (*generation, error) {
	nodeCfg, err := NodeConfig(cfg)
	if err != nil {
		return nil, err
	}
	return d.startNode(cfg, nodeCfg)
}

func (d *daemon) startNode(cfg *config.Config, nodeCfg vrrp.NodeConfig) (*generation, error) {
	ctx, cancel := context.WithCancel(context.Background())
	gen := &generation{cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	gen.node = vrrp.NewNode(nodeCfg, d.platform, d.logger)
	started := make(chan struct{})
	go func() {
		err := gen.node.RunNotify(ctx, func() { close(started) })
		gen.done <- err
	}()
	select {
	case <-started:
	case err := <-gen.done:
		cancel()
		if err == nil {
			err = errors.New("vrrp node exited during start")
		}
		return nil, err
	}
	d.startScripts(gen, cfg.VRRPScripts)
	return gen, nil
}

// startScripts runs the tracked scripts of gen's node until stopScripts.
func (d *daemon) startScripts(gen *generation, scripts []config.VRRPScript) {
	ctx, cancel := context.WithCancel(context.Background())
	gen.scriptsCancel = cancel
	for _, s := range scripts {
		gen.scripts.Add(1)
		go func() {
			defer gen.scripts.Done()
			d.runScript(ctx, gen.node, s)
		}()
	}
}

func (d *daemon) stop(gen *generation) {
	gen.stopScripts()
	gen.cancel()
	err := <-gen.done
	gen.done <- err
	if err != nil {
		d.logger.Error("vrrp node stopped with error", "err", err)
	}
}

// runScript runs one tracked script on its interval and reports status
// changes (after rise/fall) to the node.
func (d *daemon) runScript(ctx context.Context, node *vrrp.Node, s config.VRRPScript) {
	logger := d.logger.With("component", "track_script", "script", s.Name)
	// Continue from the node's view, so a restarted runner (reload) keeps
	// a failing script failing until rise successes.
	h := check.NewHysteresis(s.Rise, s.Fall, node.ScriptUp(ctx, s.Name))
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, s.Timeout)
		res := check.Exec(pctx, s.Command)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !res.OK {
			logger.Debug("script failed", "err", res.Err, "output", res.Output)
		}
		if h.Observe(res.OK) {
			logger.Info("tracked script status changed", "up", h.Up(), "err", res.Err)
			node.UpdateScript(ctx, s.Name, h.Up())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *daemon) snapshot() vrrp.NodeSnapshot {
	gen := d.current.Load()
	if gen == nil {
		return vrrp.NodeSnapshot{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, _ := gen.node.Snapshot(ctx)
	return s
}

func (d *daemon) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collector.NewBuildInfo(),
		collector.NewVRRP(d.snapshot),
		collector.NewConfig(func() collector.ReloadState { return *d.reload.Load() }),
		collector.NewLB(d.lb.snapshot),
		d.lateness,
		d.act.Collector(),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(d.logger.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(d.status())
	})
	mux.Handle(actuator.WebhookPath, d.act.WebhookHandler())
	mux.Handle(actuator.APIPrefix, d.act.APIHandler())
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "OK") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "OK") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `<html><head><title>vigil</title></head><body><h1>vigil</h1><p><a href="/metrics">Metrics</a></p></body></html>`)
	})
	return mux
}

// drainGraces maps each virtual server's service to its drain_grace.
func drainGraces(cfg *config.Config) map[ipvs.ServiceKey]time.Duration {
	m := map[ipvs.ServiceKey]time.Duration{}
	for _, vs := range cfg.VirtualServers {
		if k, err := serviceKey(vs); err == nil {
			m[k] = vs.DrainGrace
		}
	}
	return m
}

// status gathers what `vigil status` shows.
func (d *daemon) status() Status {
	cfg := d.cfg.Load()
	st := buildStatus(cfg.Global.RouterID, cfg.Hash, d.snapshot(), d.lb.snapshot())
	st.Overrides = d.act.Overrides()
	return st
}
