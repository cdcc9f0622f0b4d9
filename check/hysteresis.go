package check

// Hysteresis turns a stream of probe results into a stable up/down status:
// Rise consecutive successes bring a down target up, Fall consecutive
// failures bring an up target down (keepalived's rise/fall, seesaw's
// healthcheck core).
type Hysteresis struct {
	Rise, Fall int

	up     bool
	streak int // consecutive results contradicting the current status
}

// NewHysteresis returns a tracker starting in the given status.
func NewHysteresis(rise, fall int, up bool) *Hysteresis {
	return &Hysteresis{Rise: max(rise, 1), Fall: max(fall, 1), up: up}
}

// Up reports the current status.
func (h *Hysteresis) Up() bool { return h.up }

// Observe records one probe result and reports whether the status changed.
func (h *Hysteresis) Observe(ok bool) (changed bool) {
	if ok == h.up {
		h.streak = 0
		return false
	}
	h.streak++
	need := h.Fall
	if ok {
		need = h.Rise
	}
	if h.streak >= need {
		h.up, h.streak = ok, 0
		return true
	}
	return false
}
