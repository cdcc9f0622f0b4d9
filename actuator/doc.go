// Package actuator turns Alertmanager notifications and operators' requests
// into load-balancer actions: draining a real server, overriding its weight,
// handing a VRRP instance to a peer or holding it back from mastership.
//
// Everything goes through Actuator.Handle, whichever the source (the
// Alertmanager webhook, the HTTP API, the CLI through the API), so the same
// guards, audit log and metrics apply to all of them:
//
//   - Guards refuse what would be unsafe: draining the last healthy real
//     servers of a virtual server (min_healthy_per_virtual_server), too many
//     overrides at once (max_concurrent_actions), flapping a target
//     (cooldown) and automation running away (rate_limit). Operators bypass
//     the cooldown and the rate limit; only an operator's force bypasses
//     the other two.
//   - Overrides (drains, weights, holds) are state: they are persisted
//     atomically in the state directory, survive restarts and reloads, and
//     are applied by the Executor as a whole set, so a restart or a missed
//     update converges.
//   - Every decision (applied, refused, dry run, failed, no-op) is appended
//     to an fsync'd JSON-lines audit log and counted.
//
// The webhook follows Alertmanager's contract (notify/webhook and
// notify/util.go in prometheus/alertmanager): version "4" payloads; 2xx once
// handled, including when nothing matched or the action was already done,
// because Alertmanager re-sends; 4xx for what can never succeed, which
// Alertmanager does not retry; 5xx only when a retry may succeed.
//
// The package does not know about VRRP, IPVS or health checks: the daemon
// implements Executor over them.
package actuator
