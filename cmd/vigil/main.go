// Command vigil is a Prometheus-native VRRP and IPVS director, a
// replacement for keepalived. main only parses flags, turns signals into
// context cancellation and reload requests, and calls daemon.Run.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/vigil-lb/vigil/config"
	"github.com/vigil-lb/vigil/daemon"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New("vigil", "Prometheus-native VRRP failover and IPVS director (a keepalived replacement).")
	app.Version(version.Print("vigil"))
	app.HelpFlag.Short('h')
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)

	runCmd := app.Command("run", "Run the daemon: VRRP instances and the metrics listener. SIGHUP reloads the configuration; SIGTERM/SIGINT stop, handing mastership over make-before-break.").Default()
	configFile := runCmd.Flag("config.file", "vigil configuration file.").Default("/etc/vigil/vigil.yml").String()
	listen := runCmd.Flag("web.listen-address", "Address to serve /metrics on; repeatable. Empty disables the listener.").Default(":9650").Strings()
	webConfig := runCmd.Flag("web.config.file", "Path to a prometheus/exporter-toolkit web configuration file enabling TLS and/or basic authentication.").Default("").String()

	checkCmd := app.Command("check-config", "Validate a configuration file and exit: 0 when valid, 1 with every problem listed.")
	checkFile := checkCmd.Arg("file", "Configuration file to check.").Required().String()

	statusCmd := app.Command("status", "Show a running vigil's VRRP instances, virtual and real servers, health, weights and overrides.")
	statusAPI := addAPIFlags(statusCmd)
	statusOut := statusCmd.Flag("output", "Output format: table or json.").Short('o').Default("table").Enum("table", "json")

	operator := operatorCommands(app)

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vigil: %v (see vigil --help)\n", err)
		return 2
	}
	logger := promslog.New(logCfg)

	if code, ok := operator(cmd); ok {
		return code
	}
	switch cmd {
	case checkCmd.FullCommand():
		cfg, err := config.Load(*checkFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s: ok (%d vrrp instances, %d scripts, %d sync groups, sha256 %s)\n",
			*checkFile, len(cfg.VRRPInstances), len(cfg.VRRPScripts), len(cfg.SyncGroups), cfg.Hash[:12])
		return 0
	case statusCmd.FullCommand():
		var st daemon.Status
		if err := statusAPI.do("GET", "/api/v1/status", nil, &st); err != nil {
			fmt.Fprintln(os.Stderr, "vigil status:", err)
			return 1
		}
		if *statusOut == "json" {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			enc.Encode(st)
			return 0
		}
		st.WriteText(os.Stdout)
		return 0
	case runCmd.FullCommand():
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		reload := make(chan struct{}, 1)
		go func() {
			for range hup {
				select { // coalesce
				case reload <- struct{}{}:
				default:
				}
			}
		}()
		addrs := *listen
		if len(addrs) == 1 && addrs[0] == "" {
			addrs = nil
		}
		err := daemon.Run(ctx, daemon.Options{
			ConfigFile:      *configFile,
			ListenAddresses: addrs,
			WebConfigFile:   *webConfig,
			Logger:          logger,
			Reload:          reload,
		})
		if err != nil {
			logger.Error("vigil failed", "err", err)
			return 1
		}
		return 0
	}
	return 2
}
