package ipvs

import "time"

// ForceResync makes r's next pass read the whole table, as when
// Options.ResyncInterval has passed since the last full read. Tests call it
// after changing the kernel behind the Reconciler's back.
func ForceResync(r *Reconciler) { r.fullAt = time.Time{} }
