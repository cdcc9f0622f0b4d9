package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vigil-lb/vigil/actuator"
)

// actionCmd is one operator command that POSTs an action to the daemon.
type actionCmd struct {
	cmd    *kingpin.CmdClause
	api    *apiClient
	path   string
	build  func() (actuator.APIRequest, error)
	reason *string
	force  *bool
	dryRun *bool
}

func addActionCmd(app *kingpin.Application, name, help, path string) *actionCmd {
	c := &actionCmd{cmd: app.Command(name, help), path: path}
	c.api = addAPIFlags(c.cmd)
	c.reason = c.cmd.Flag("reason", "Why, for the audit log.").Default("").String()
	c.force = c.cmd.Flag("force", "Bypass the min_healthy_per_virtual_server and max_concurrent_actions guards.").Bool()
	c.dryRun = c.cmd.Flag("dry-run", "Evaluate the guards and audit, change nothing.").Bool()
	return c
}

// run sends the request and prints the outcome; the exit code is 0 when
// applied (or a no-op/dry run), 1 otherwise.
func (c *actionCmd) run() int {
	req, err := c.build()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vigil %s: %v\n", c.cmd.FullCommand(), err)
		return 2
	}
	req.Reason, req.Force, req.DryRun = *c.reason, *c.force, *c.dryRun
	var out actuator.Outcome
	if err := c.api.do("POST", "/api/v1/"+c.path, req, &out); err != nil {
		fmt.Fprintf(os.Stderr, "vigil %s: %v\n", c.cmd.FullCommand(), err)
		return 1
	}
	msg := ""
	if out.Message != "" {
		msg = ": " + out.Message
	}
	fmt.Printf("%s %s: %s%s\n", out.Action, out.Target, out.Result, msg)
	return 0
}

// operatorCommands registers drain, undrain, weight, failover, hold,
// release and actions; it returns a dispatcher for the parsed command.
func operatorCommands(app *kingpin.Application) func(cmd string) (int, bool) {
	drain := addActionCmd(app, "drain", "Drain a real server: weight 0, existing connections continue. Persists until undrain.", "drain")
	dVS := drain.cmd.Arg("virtual_server", "Virtual server name.").Required().String()
	dRS := drain.cmd.Arg("real_server", "Real server address, e.g. 10.0.0.21:3306.").Required().String()
	drain.build = func() (actuator.APIRequest, error) {
		return actuator.APIRequest{VirtualServer: *dVS, RealServer: *dRS}, nil
	}

	undrain := addActionCmd(app, "undrain", "Undo a drain.", "undrain")
	uVS := undrain.cmd.Arg("virtual_server", "Virtual server name.").Required().String()
	uRS := undrain.cmd.Arg("real_server", "Real server address.").Required().String()
	undrain.build = func() (actuator.APIRequest, error) {
		return actuator.APIRequest{VirtualServer: *uVS, RealServer: *uRS}, nil
	}

	weight := addActionCmd(app, "weight", "Override a real server's weight; 'clear' removes the override.", "weight")
	wVS := weight.cmd.Arg("virtual_server", "Virtual server name.").Required().String()
	wRS := weight.cmd.Arg("real_server", "Real server address.").Required().String()
	wN := weight.cmd.Arg("weight", "New weight (0..65535), or clear.").Required().String()
	weight.build = func() (actuator.APIRequest, error) {
		req := actuator.APIRequest{VirtualServer: *wVS, RealServer: *wRS, Weight: json.RawMessage("null")}
		if *wN != "clear" {
			n, err := strconv.Atoi(*wN)
			if err != nil || n < 0 || n > 65535 {
				return req, fmt.Errorf("weight: want 0..65535 or clear, got %q", *wN)
			}
			req.Weight = json.RawMessage(strconv.Itoa(n))
		}
		return req, nil
	}

	failover := addActionCmd(app, "failover", "Hand a VRRP instance over to a peer, make-before-break, and hold off preemption.", "failover")
	fIn := failover.cmd.Arg("instance", "VRRP instance name.").Required().String()
	fHold := failover.cmd.Flag("hold", "How long not to preempt back.").Default("5m").Duration()
	failover.build = func() (actuator.APIRequest, error) {
		return actuator.APIRequest{VRRPInstance: *fIn, Hold: fHold.String()}, nil
	}

	resign := addActionCmd(app, "resign", "Hand every VRRP instance of this node over to peers, make-before-break (before maintenance).", "resign")
	rsHold := resign.cmd.Flag("hold", "How long not to preempt back.").Default("5m").Duration()
	resign.build = func() (actuator.APIRequest, error) { return actuator.APIRequest{Hold: rsHold.String()}, nil }

	hold := addActionCmd(app, "hold", "Keep a VRRP instance from being master while a peer can be, until release.", "hold")
	hIn := hold.cmd.Arg("instance", "VRRP instance name.").Required().String()
	hold.build = func() (actuator.APIRequest, error) { return actuator.APIRequest{VRRPInstance: *hIn}, nil }

	release := addActionCmd(app, "release", "End a hold.", "release")
	rIn := release.cmd.Arg("instance", "VRRP instance name.").Required().String()
	release.build = func() (actuator.APIRequest, error) { return actuator.APIRequest{VRRPInstance: *rIn}, nil }

	actions := app.Command("actions", "Show the last actions from the audit log.")
	aAPI := addAPIFlags(actions)
	aN := actions.Flag("limit", "How many.").Short('n').Default("20").Int()
	aOut := actions.Flag("output", "Output format: table or json.").Short('o').Default("table").Enum("table", "json")

	cmds := []*actionCmd{drain, undrain, weight, failover, resign, hold, release}
	return func(cmd string) (int, bool) {
		for _, c := range cmds {
			if cmd == c.cmd.FullCommand() {
				return c.run(), true
			}
		}
		if cmd != actions.FullCommand() {
			return 0, false
		}
		var out struct {
			Actions []actuator.Record `json:"actions"`
		}
		if err := aAPI.do("GET", fmt.Sprintf("/api/v1/actions?limit=%d", *aN), nil, &out); err != nil {
			fmt.Fprintln(os.Stderr, "vigil actions:", err)
			return 1, true
		}
		if *aOut == "json" {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			enc.Encode(out.Actions)
			return 0, true
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSOURCE\tWHO\tACTION\tTARGET\tRESULT\tDETAIL")
		for _, r := range out.Actions {
			detail := r.Message
			if r.Error != "" {
				detail = r.Error
			}
			if r.Rule != "" {
				detail = "rule " + r.Rule + " " + detail
			}
			who := r.Who
			if who == "" {
				who = r.RemoteAddr
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Format(time.RFC3339), r.Source, who, r.Action, r.Target, r.Result, detail)
		}
		tw.Flush()
		return 0, true
	}
}
