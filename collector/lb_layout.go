package collector

import (
	"cmp"
	"slices"

	dto "github.com/prometheus/client_model/go"

	"github.com/vigil-lb/vigil/ipvs"
)

// Names of the label pairs of the load-balancing metrics, shared by every
// pair.
var (
	virtualServerName = labelName(virtualServerLabel)
	serviceName       = labelName(serviceLabel)
	realServerName    = labelName(realServerLabel)
	checkName         = labelName(checkLabel)
	checkIDName       = labelName(checkIDLabel)
	familyName        = labelName("family")
	schedulerName     = labelName("scheduler")
	resultName        = labelName("result")
	kindName          = labelName("kind")
)

// sortedResults and sortedKinds are checkResults and reconcileKinds in
// the order of their label values, the order the registry sorts series in.
var (
	sortedResults = slices.Sorted(slices.Values(checkResults))
	sortedKinds   = slices.Sorted(slices.Values(reconcileKinds))
)

// lbLayout is what the load-balancing series derive from the structure of
// a snapshot rather than from its values: the virtual servers, real
// servers and checks that have series, and their label sets (which of
// their series exist may still depend on values: kernel series, dynamic
// weights, details, unlisted results). The daemon publishes a new snapshot
// after every reconcile pass, but its structure changes only with the
// configuration, so Collect builds a layout once and reuses it for every
// snapshot of the same shape (lbLayout.fits), reading only values per
// scrape. A layout is immutable once built; concurrent scrapes share it.
//
// Series are listed in the order of their label values (names sorted, as
// in dto.Metric), which is how the registry sorts each family: sorting
// what is already in order is linear.
type lbLayout struct {
	// The shape it was built from.
	vs     []vsShape
	checks []checkShape

	vsSeries    []vsSeries         // by service, virtual_server
	vsInfo      [][]*dto.LabelPair // by family, scheduler, service, virtual_server
	sorryInfo   [][]*dto.LabelPair // by real_server, virtual_server
	rsSeries    []rsSeries         // by real_server, virtual_server
	checkSeries []checkSeries      // by check, check_id, real_server, virtual_server
}

// vsShape is what the layout depends on in a VirtualServerState.
type vsShape struct {
	name, scheduler string
	key             ipvs.ServiceKey
	rs              []rsShape
}

// rsShape is what the layout depends on in a RealServerState.
type rsShape struct {
	address  string
	sorry    bool
	checkIDs []string
}

// checkShape is what the layout depends on in a check.Snapshot.
type checkShape struct {
	id, typ string
}

// vsSeries are the series of LBSnapshot.VirtualServers[vs] but its info.
type vsSeries struct {
	vs     int
	labels []*dto.LabelPair // service, virtual_server
}

// rsSeries are the series of LBSnapshot.VirtualServers[vs].RealServers[rs].
type rsSeries struct {
	vs, rs int
	labels []*dto.LabelPair // real_server, virtual_server
}

// checkSeries are the series of LBSnapshot.Checks[check].
type checkSeries struct {
	check  int
	labels []*dto.LabelPair // check, check_id, real_server, virtual_server
	// results are the label sets of vigil_check_results_total for
	// sortedResults, result added.
	results [][]*dto.LabelPair
}

// fits reports whether snap has the shape l was built from.
func (l *lbLayout) fits(snap *LBSnapshot) bool {
	if len(snap.VirtualServers) != len(l.vs) || len(snap.Checks) != len(l.checks) {
		return false
	}
	for i := range snap.VirtualServers {
		vs, shape := &snap.VirtualServers[i], &l.vs[i]
		if vs.Name != shape.name || vs.Key != shape.key || vs.Scheduler != shape.scheduler ||
			len(vs.RealServers) != len(shape.rs) {
			return false
		}
		for j := range vs.RealServers {
			r, rshape := &vs.RealServers[j], &shape.rs[j]
			if r.Address != rshape.address || r.Sorry != rshape.sorry || !slices.Equal(r.CheckIDs, rshape.checkIDs) {
				return false
			}
		}
	}
	for i := range snap.Checks {
		if s := &snap.Checks[i]; s.ID != l.checks[i].id || s.Type != l.checks[i].typ {
			return false
		}
	}
	return true
}

// newLBLayout builds the layout of snap. It decides which series exist as
// referenceLB (lb_reference_test.go) does; TestLBMatchesReference holds
// the two together.
func newLBLayout(snap *LBSnapshot) *lbLayout {
	l := &lbLayout{
		vs:     make([]vsShape, len(snap.VirtualServers)),
		checks: make([]checkShape, len(snap.Checks)),
	}
	var arena labelArena

	// owner is the real server whose CheckIDs first list a check.
	type rsRef struct{ vs, rs *dto.LabelPair }
	owner := map[string]rsRef{}
	for i := range snap.VirtualServers {
		vs := &snap.VirtualServers[i]
		shape := &l.vs[i]
		shape.name, shape.key, shape.scheduler = vs.Name, vs.Key, vs.Scheduler
		shape.rs = make([]rsShape, len(vs.RealServers))

		svc := vs.Key.String()
		sched := vs.Scheduler
		if sched == "" {
			sched = ipvs.DefaultScheduler
		}
		vsPair, svcPair := labelPair(virtualServerName, vs.Name), labelPair(serviceName, svc)
		l.vsSeries = append(l.vsSeries, vsSeries{vs: i, labels: arena.set(svcPair, vsPair)})
		l.vsInfo = append(l.vsInfo, arena.set(
			labelPair(familyName, vs.Key.Family.String()), labelPair(schedulerName, sched), svcPair, vsPair))

		// The sorry server may share its address with a real server;
		// the kernel then holds one destination for both (ipvs.Desired),
		// and so do the per-real-server series: the real server's entry
		// wins. A real server listed twice has one set of series.
		realAddrs := map[string]bool{}
		for _, r := range vs.RealServers {
			if !r.Sorry {
				realAddrs[r.Address] = true
			}
		}
		done := map[string]bool{}
		for j := range vs.RealServers {
			r := &vs.RealServers[j]
			shape.rs[j] = rsShape{address: r.Address, sorry: r.Sorry, checkIDs: slices.Clone(r.CheckIDs)}
			rsPair := labelPair(realServerName, r.Address)
			for _, id := range r.CheckIDs {
				if _, ok := owner[id]; !ok {
					owner[id] = rsRef{vsPair, rsPair}
				}
			}
			labels := arena.set(rsPair, vsPair)
			if r.Sorry {
				l.sorryInfo = append(l.sorryInfo, labels)
				if realAddrs[r.Address] {
					continue
				}
			}
			if done[r.Address] {
				continue
			}
			done[r.Address] = true
			l.rsSeries = append(l.rsSeries, rsSeries{vs: i, rs: j, labels: labels})
		}
	}

	// A check no real server lists is still exposed, with empty
	// virtual_server and real_server: it runs, so its state counts.
	orphan := rsRef{labelPair(virtualServerName, ""), labelPair(realServerName, "")}
	typePairs := map[string]*dto.LabelPair{}
	resultPairs := make([]*dto.LabelPair, len(sortedResults))
	for k, r := range sortedResults {
		resultPairs[k] = labelPair(resultName, r)
	}
	for i := range snap.Checks {
		s := &snap.Checks[i]
		l.checks[i] = checkShape{id: s.ID, typ: s.Type}
		o, ok := owner[s.ID]
		if !ok {
			o = orphan
		}
		typePair := typePairs[s.Type]
		if typePair == nil {
			typePair = labelPair(checkName, s.Type)
			typePairs[s.Type] = typePair
		}
		idPair := labelPair(checkIDName, s.ID)
		cs := checkSeries{check: i, labels: arena.set(typePair, idPair, o.rs, o.vs)}
		for _, rp := range resultPairs {
			cs.results = append(cs.results, arena.set(typePair, idPair, o.rs, rp, o.vs))
		}
		l.checkSeries = append(l.checkSeries, cs)
	}

	slices.SortFunc(l.vsSeries, func(a, b vsSeries) int { return compareLabels(a.labels, b.labels) })
	slices.SortFunc(l.vsInfo, compareLabels)
	slices.SortFunc(l.sorryInfo, compareLabels)
	slices.SortFunc(l.rsSeries, func(a, b rsSeries) int { return compareLabels(a.labels, b.labels) })
	slices.SortFunc(l.checkSeries, func(a, b checkSeries) int { return compareLabels(a.labels, b.labels) })
	return l
}

// compareLabels orders label sets of one family as the registry does
// (prometheus/internal.MetricSorter): by their values, in label-name order.
func compareLabels(a, b []*dto.LabelPair) int {
	for i := range min(len(a), len(b)) {
		if c := cmp.Compare(a[i].GetValue(), b[i].GetValue()); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}
