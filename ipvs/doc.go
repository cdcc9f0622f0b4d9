// Package ipvs programs the kernel's IP Virtual Server table.
//
// The pieces, in the order data flows through them:
//
//   - Desired (desired.go) turns the configured virtual servers, the health
//     of their real servers and the operator's overrides into the desired
//     table, with keepalived's semantics for inhibit_on_failure, dynamic
//     weights, quorum with hysteresis and the sorry server, and reports a
//     VSStatus per virtual server.
//   - A Reconciler (reconcile.go) reads the kernel table and applies the
//     fewest operations that make the services vigil owns match the desired
//     table. Everything but a service's key is changed in place. It never
//     flushes and never touches a service it does not own. With
//     Options.ResyncInterval it reads the whole table only that often (the
//     pass that does repairs changes made behind vigil's back); a pass in
//     between reads and plans only the services whose desired state
//     changed, so one weight change costs one service's read, not the
//     table's. If the kernel turns out not to be as read (an operation
//     fails with ENOENT or EEXIST), the pass reads everything and plans
//     again. Reconciler.Observed is the table as the last pass left it,
//     for metrics.
//   - Ownership (ownership.go) is recorded, not guessed: the keys of the
//     services vigil created or adopted, and the pending drains, live in
//     StateFile under the state directory, written atomically. A desired
//     service found in the kernel is adopted, so a restart over a full table
//     changes nothing; a service that is neither owned nor desired is
//     foreign and left alone; an owned service no longer desired is drained,
//     then removed.
//   - Draining: a real server or service removed from the configuration is
//     first set to weight 0, so established connections finish, and removed
//     after Options.DrainGrace (keepalived issues #1228, #2240). A real
//     server that failed its checks, or that the sorry server replaced, is
//     removed at once (Service.Withdrawn): draining a dead server only keeps
//     persistent clients pinned to it. Deadlines survive restarts;
//     Reconciler.NextDeadline tells the owner when to reconcile next.
//   - The Kernel interface (kernel.go) is all the Reconciler needs;
//     NetlinkKernel implements it over generic netlink
//     (github.com/cloudflare/ipvs), returning ErrUnavailable while the
//     kernel has no IPVS. Package ipvstest has an in-memory Kernel and a
//     Recorder for tests.
package ipvs
