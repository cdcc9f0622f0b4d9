package lab

import (
	"net/netip"
	"testing"
	"time"
)

// synthetic builds request times every 5 ms and replies 100 µs later for
// the sequence numbers answered reports true.
func synthetic(n int, answered func(seq int) bool) ([]time.Time, []Reply) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var sent []time.Time
	var replies []Reply
	for i := range n {
		s := t0.Add(time.Duration(i) * 5 * time.Millisecond)
		sent = append(sent, s)
		if answered(i) {
			replies = append(replies, Reply{Seq: i, Sent: s, Received: s.Add(100 * time.Microsecond)})
		}
	}
	return sent, replies
}

func TestSummarizeOutage(t *testing.T) {
	// Requests 100-159 (300 ms) unanswered.
	sent, replies := synthetic(300, func(i int) bool { return i < 100 || i >= 160 })
	s := summarize(VIP4, 5*time.Millisecond, sent, replies, 2, 1)
	if s.Sent != 300 || s.Received != 240 || s.Lost() != 60 || s.Duplicates != 2 || s.SendErrors != 1 {
		t.Errorf("counts: %v", s)
	}
	// From the reply to 99 to the reply to 160: 61 intervals.
	if got, want := s.LongestGap(), 61*5*time.Millisecond; got != want {
		t.Errorf("LongestGap = %v, want %v", got, want)
	}
	if s.Longest.Lost != 60 {
		t.Errorf("Longest.Lost = %d, want 60", s.Longest.Lost)
	}
	if len(s.Gaps) != 1 || s.Gaps[0] != s.Longest {
		t.Errorf("Gaps = %v, want just the outage", s.Gaps)
	}
	if s.GapThreshold != 15*time.Millisecond {
		t.Errorf("GapThreshold = %v", s.GapThreshold)
	}
	if s.LongestSendGap != 5*time.Millisecond {
		t.Errorf("LongestSendGap = %v, want 5ms", s.LongestSendGap)
	}
	if !s.Start.Equal(sent[0]) || !s.End.Equal(sent[299]) {
		t.Errorf("Start, End = %v, %v", s.Start, s.End)
	}
}

func TestSummarizeNoLoss(t *testing.T) {
	sent, replies := synthetic(100, func(int) bool { return true })
	s := summarize(VIP4, 5*time.Millisecond, sent, replies, 0, 0)
	if got := s.LongestGap(); got != 5*time.Millisecond {
		t.Errorf("LongestGap = %v, want 5ms", got)
	}
	if len(s.Gaps) != 0 || s.Lost() != 0 {
		t.Errorf("Gaps = %v, lost %d", s.Gaps, s.Lost())
	}
}

func TestSummarizeOpenEnded(t *testing.T) {
	// The target disappears at request 50 and never comes back: the gap runs
	// to the last request.
	sent, replies := synthetic(100, func(i int) bool { return i < 50 })
	s := summarize(VIP4, 5*time.Millisecond, sent, replies, 0, 0)
	if !s.Longest.End.Equal(sent[99]) || s.Longest.Lost != 50 {
		t.Errorf("Longest = %+v, want to end at the last request with 50 lost", s.Longest)
	}
	if got, want := s.LongestGap(), sent[99].Sub(replies[49].Received); got != want {
		t.Errorf("LongestGap = %v, want %v", got, want)
	}
}

func TestSummarizeLateStart(t *testing.T) {
	// Nothing answers the first 20 requests (ARP not resolved, VIP not up).
	sent, replies := synthetic(100, func(i int) bool { return i >= 20 })
	s := summarize(VIP4, 5*time.Millisecond, sent, replies, 0, 0)
	if !s.Longest.Start.Equal(sent[0]) || s.Longest.Lost != 20 {
		t.Errorf("Longest = %+v, want to start at the first request with 20 lost", s.Longest)
	}
}

func TestSummarizeNothing(t *testing.T) {
	s := summarize(netip.Addr{}, time.Millisecond, nil, nil, 0, 0)
	if s.Sent != 0 || s.LongestGap() != 0 || len(s.Gaps) != 0 {
		t.Errorf("empty: %v", s)
	}
	sent, _ := synthetic(10, func(int) bool { return false })
	s = summarize(VIP4, 5*time.Millisecond, sent, nil, 0, 0)
	if s.LongestGap() != 45*time.Millisecond || s.Longest.Lost != 10 {
		t.Errorf("all lost: %v", s)
	}
	s = summarize(VIP4, 5*time.Millisecond, sent[:1], nil, 0, 0)
	if s.LongestGap() != 0 || s.Longest.Lost != 1 {
		t.Errorf("one lost: %+v", s.Longest)
	}
}

func TestSummarizeStarvedSender(t *testing.T) {
	// The sender stalls for 200 ms after request 10; everything is answered.
	sent, replies := synthetic(20, func(int) bool { return true })
	for i := 11; i < 20; i++ {
		sent[i] = sent[i].Add(200 * time.Millisecond)
		replies[i].Sent = sent[i]
		replies[i].Received = sent[i].Add(100 * time.Microsecond)
	}
	s := summarize(VIP4, 5*time.Millisecond, sent, replies, 0, 0)
	if s.LongestSendGap != 205*time.Millisecond {
		t.Errorf("LongestSendGap = %v, want 205ms", s.LongestSendGap)
	}
	if s.LongestGap() != 205*time.Millisecond || s.Longest.Lost != 0 {
		t.Errorf("Longest = %v (%d lost), want 205ms with nothing lost", s.LongestGap(), s.Longest.Lost)
	}
}
