// Package labels turns what a check found into Prometheus label values:
// sanitised, capped, canonical (addresses, MACs, UUIDs), from closed sets
// where they have one, and within each domain's label Budget, so that no
// guest can make a series per round or smuggle markup into a dashboard.
package labels

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/probe"
)

// MaxRunes caps every free-form label value.
const MaxRunes = 64

// Guest makes a guest-reported string (OS id, OS version) fit for a
// label value: sanitised, cut to MaxRunes, and reduced to a
// conservative character set so that no guest can smuggle markup, quotes or
// look-alike characters into a dashboard or an alert.
func Guest(s string) string {
	s = guestagent.Sanitize(s, MaxRunes)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '_', r == '-', r == '+', r == '~', r == ':':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Host makes a host-side string (a domain name, a Nova instance or
// project name) safe as a label value without changing ordinary names:
// what guestagent.Sanitize makes of it — the one sanitiser of labels, logs,
// JSON, the terminal and the pages — with a fast path for names it leaves
// as they are.
func Host(s string, max int) string {
	if len(s) <= max && guestagent.Unchanged(s) {
		return s
	}
	return guestagent.Sanitize(s, max)
}

// Addr formats an address through netip, so that a label holds only a
// canonical IP address (no zone). It returns "" for anything else. It
// reads label values back (the state file); a probe's target is
// formatted from its typed address (addrText).
func Addr(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return addrText(a)
}

// addrText is a as a label: canonical, without its zone; "" for the zero
// Addr.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.WithZone("").String()
}

// MAC formats a MAC address canonically (lower case, colons), or
// returns "" when s is not one. It is for label values read back as text
// (the state file's label sets); a typed MAC is formatted by macLabel.
func MAC(s string) string {
	mac, _ := guestagent.NormalMAC(s)
	return mac
}

// macLabel is m as a label: its canonical form, or "" when m is not a
// MAC. A MAC the engine made is canonical and taken as it is; only one
// that came another way (a Result read back from a state file, a
// conversion) is parsed again.
func macLabel(m guestagent.MAC) string {
	if m.Valid() {
		return m.String()
	}
	return MAC(string(m))
}

// UUID returns a domain UUID in canonical lower-case form, or "" when s
// is not one.
func UUID(s string) string {
	if len(s) != 36 {
		return ""
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return ""
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return ""
			}
		}
	}
	return string(b)
}

// Enum returns s when it is one of the allowed values, else "other".
func Enum(s string, allowed ...string) string {
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	return "other"
}

// Label budgets. Every label value a guest influences could change every
// round, and each new value is a new series for Prometheus to keep. So, per
// domain, each bounded group of labels may take at most a fixed number of
// distinct value sets over the domain's life in vmcheck (the process for
// serve, the state file for cron); a set beyond the budget is replaced by
// the Placeholder in every label of the group. When a domain goes away
// (History.Retain), serve keeps its budget for when it comes back (a VM
// stopped and started again), for the last maxRetired such domains.
const (
	// Placeholder replaces every label of a group whose budget is spent.
	Placeholder = "other"
	// MaxInfoSets bounds the distinct (os_family, os_id, os_version,
	// nova_instance, nova_project) sets of vmcheck_domain_info per domain.
	MaxInfoSets = 8
	// MaxGatewaySets bounds the distinct (target, nic) pairs of gateway
	// probes per domain: twice MaxGatewayProbes, so that every NIC of a
	// full domain can change its gateway once.
	MaxGatewaySets = 32
	// MaxGatewayProbes caps the gateway probes (one per NIC) of one check
	// that get series; the rest are counted in vmcheck_probes_omitted.
	MaxGatewayProbes = 16
	// MaxExternalProbes caps the external probes of one check that get
	// series (their targets come from the host: config and metadata).
	MaxExternalProbes = 16
	// MaxAddressProbes caps the address probes of one check that get
	// series: an IPv4 and an IPv6 address for each of MaxGatewayProbes
	// NICs.
	MaxAddressProbes = 32
	// MaxAddressSets bounds the distinct (target, nic) pairs of address
	// probes per domain: every address of a full domain may change once.
	MaxAddressSets = 64
	// MaxDiagnoses caps the vmcheck_diagnosis series of one check.
	MaxDiagnoses = 32
	// MaxDiagnosisNICs bounds the distinct nic values of vmcheck_diagnosis
	// per domain (a MAC each; the VM-wide "" is not counted).
	MaxDiagnosisNICs = 32
	// MaxNICSeries caps the vmcheck_nic_info series of one check.
	MaxNICSeries = 32
	// MaxNICSets bounds the distinct (nic, network) pairs of
	// vmcheck_nic_info per domain: a tenant may choose its ports' MACs.
	MaxNICSets = 32
)

// Label groups, the keys of a Budget, with their size and budget.
const (
	groupInfo      = "domain_info"
	groupGateway   = "gateway_probe"
	groupAddress   = "address_probe"
	groupDiagnosis = "diagnosis"
	groupNIC       = "nic"
)

var groupLimits = map[string]struct{ arity, limit int }{
	groupInfo:      {5, MaxInfoSets},
	groupGateway:   {2, MaxGatewaySets},
	groupAddress:   {2, MaxAddressSets},
	groupDiagnosis: {1, MaxDiagnosisNICs},
	groupNIC:       {2, MaxNICSets},
}

// Budget remembers, for one domain, the distinct label sets each group
// has used, in order of first use.
type Budget map[string][][]string

// admit reports whether the label set values of group may be used: it has
// been used before, or the group's budget has room for it (it is then
// remembered).
func (b Budget) admit(group string, values ...string) bool {
	if slices.ContainsFunc(b[group], func(set []string) bool { return slices.Equal(set, values) }) {
		return true
	}
	if len(b[group]) >= groupLimits[group].limit {
		return false
	}
	b[group] = append(b[group], slices.Clone(values))
	return true
}

// Sets returns the budget's label sets for the state file.
func (b Budget) Sets() map[string][][]string {
	if len(b) == 0 {
		return nil
	}
	out := make(map[string][][]string, len(b))
	for g, sets := range b {
		for _, set := range sets {
			out[g] = append(out[g], slices.Clone(set))
		}
	}
	return out
}

// BudgetFromSets rebuilds a budget from the state file, refusing anything
// that Record could not have produced: an unknown group, a set of the
// wrong size or with an unsanitised value, more sets than the budget.
func BudgetFromSets(saved map[string][][]string) (Budget, error) {
	b := make(Budget, len(saved))
	for g, sets := range saved {
		lim, ok := groupLimits[g]
		if !ok {
			return nil, fmt.Errorf("unknown label group %q", g)
		}
		if len(sets) > lim.limit {
			return nil, fmt.Errorf("label group %s: %d sets, at most %d", g, len(sets), lim.limit)
		}
		for _, set := range sets {
			if len(set) != lim.arity {
				return nil, fmt.Errorf("label group %s: a set of %d values, want %d", g, len(set), lim.arity)
			}
			if !validSet(g, set) {
				return nil, fmt.Errorf("label group %s: invalid label values %q", g, set)
			}
			if !b.admit(g, set...) {
				return nil, fmt.Errorf("label group %s: over budget", g)
			}
		}
	}
	return b, nil
}

// validSet reports whether every value of a saved label set is one that
// its label function returns unchanged.
func validSet(group string, set []string) bool {
	switch group {
	case groupInfo:
		return OSFamily(set[0]) == set[0] && Guest(set[1]) == set[1] && Guest(set[2]) == set[2] &&
			Host(set[3], MaxRunes) == set[3] && Host(set[4], MaxRunes) == set[4]
	case groupGateway, groupAddress:
		return set[0] != "" && Addr(set[0]) == set[0] && MAC(set[1]) == set[1]
	case groupDiagnosis:
		return set[0] != "" && MAC(set[0]) == set[0]
	case groupNIC:
		return set[0] != "" && MAC(set[0]) == set[0] && Host(set[1], MaxRunes) == set[1]
	}
	return false
}

// OSFamily returns the OS family as a label: one of the families
// vmcheck detects (or "" when none was set), else the Placeholder.
func OSFamily(s string) string {
	return Enum(s, "", "linux", "windows", "unknown")
}

// Series are the label values of one domain's per-check series:
// validated, capped and within the domain's label budget. History.Record
// computes them once per check, so the metrics stay a function of the
// snapshot.
type Series struct {
	// Info are vmcheck_domain_info's os_family, os_id, os_version,
	// nova_instance and nova_project.
	Info []string
	// Probes are the probes that get series.
	Probes []ProbeSeries
	// Omitted counts the probes that ran but got no series of their own.
	Omitted int
	// Diagnoses are the diagnoses that get vmcheck_diagnosis series.
	Diagnoses []DiagnosisSeries
	// Alert are vmcheck_domain_alert_info's notify, severity, receiver and
	// tenant.
	Alert []string
	// NICs are the vmcheck_nic_info series: each NIC's MAC and network.
	NICs []NICSeries
	// Cause is the vmcheck_domain_cause series, the first of Diagnoses
	// with its NIC's network; nil when there is none.
	Cause *CauseSeries
}

// NICSeries is one vmcheck_nic_info series' labels: the NIC's MAC and its
// network.
type NICSeries struct {
	NIC, Network string
}

// CauseSeries is the vmcheck_domain_cause series' labels.
type CauseSeries struct {
	DiagnosisSeries
	// Network is the network of the cause's NIC ("" for none).
	Network string
}

// DiagnosisSeries is one vmcheck_diagnosis series' labels.
type DiagnosisSeries struct {
	Code, Layer, NIC string
}

// ProbeSeries is one probe's series labels (Kind, Method, Target, NIC)
// and values.
type ProbeSeries struct {
	Kind, Method, Target, NIC string
	// Passed is whether the probe passed; RTT its round-trip time in
	// seconds, Loss its loss ratio (nil: none measured) and PathMTU its
	// path MTU (0: none).
	Passed  bool
	RTT     float64
	Loss    *float64
	PathMTU int
}

// Labels returns the series labels of result r, spending the budget.
func (b Budget) Labels(r *model.Result, nova model.Nova) Series {
	info := []string{OSFamily(r.OS.Family), Guest(r.OS.ID), Guest(r.OS.Version),
		Host(nova.Instance, MaxRunes), Host(nova.Project, MaxRunes)}
	if !b.admit(groupInfo, info...) {
		for i := range info {
			info[i] = Placeholder
		}
	}
	probes, omitted := b.probeLabels(r.Probes)
	l := Series{Info: info, Probes: probes, Omitted: omitted, Diagnoses: b.diagnosisLabels(r.Diagnosis),
		Alert: alertLabels(r.Alert, nova), NICs: b.nicLabels(r.NICs)}
	if len(l.Diagnoses) > 0 {
		l.Cause = &CauseSeries{DiagnosisSeries: l.Diagnoses[0]}
		for _, n := range l.NICs {
			if n.NIC == l.Cause.NIC && n.NIC != "" && n.NIC != Placeholder {
				l.Cause.Network = n.Network
			}
		}
	}
	return l
}

// alertLabels returns vmcheck_domain_alert_info's notify, severity,
// receiver and tenant: the result's alert policy (checker.Check sets it;
// the defaults for a result without one), notify and severity from their
// closed sets, receiver and tenant names as the policy validated them or
// the platform (Nova) named the tenant, sanitised and capped.
func alertLabels(a *policy.Alert, nova model.Nova) []string {
	p := policy.Policy{}.EffectiveAlert(nova.Project)
	if a != nil {
		p = *a
	}
	return []string{Enum(p.Notify, policy.NotifyValues...), Enum(p.Severity, policy.SeverityValues...),
		Host(p.Receiver, MaxRunes), Host(p.Tenant, MaxRunes)}
}

// nicLabels returns the vmcheck_nic_info series: each NIC with a MAC,
// once, at most MaxNICSeries, with its network (networkLabel); a (nic,
// network) pair beyond the domain's budget is the Placeholder in both.
func (b Budget) nicLabels(nics []model.NICResult) []NICSeries {
	var out []NICSeries
	for _, n := range nics {
		mac := macLabel(n.MAC)
		if mac == "" || len(out) >= MaxNICSeries || slices.ContainsFunc(out, func(s NICSeries) bool { return s.NIC == mac }) {
			continue
		}
		s := NICSeries{NIC: mac, Network: networkLabel(n)}
		if !b.admit(groupNIC, s.NIC, s.Network) {
			s = NICSeries{NIC: Placeholder, Network: Placeholder}
			if slices.Contains(out, s) {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// networkLabel names the network a NIC is plugged into on the host, so
// that rules can count a network's VMs: its libvirt source (the libvirt
// network of a type network NIC, the bridge of a type bridge NIC, the host
// device of a direct one), "" when the host names none. It comes from the
// domain's definition on the host, never from the guest.
func networkLabel(n model.NICResult) string {
	return Host(n.Source, MaxRunes)
}

// diagnosisLabels returns the diagnoses that get series: codes of the
// closed set model.Codes only (anything else is dropped), with the
// code's own layer, each (code, nic) once, at most MaxDiagnoses. nic is
// the MAC within the domain's budget, "" for a diagnosis of the whole VM,
// the Placeholder for a MAC beyond the budget or one that does not parse.
func (b Budget) diagnosisLabels(ds []model.Diagnosis) []DiagnosisSeries {
	var out []DiagnosisSeries
	seen := make(map[[2]string]bool, len(ds))
	for _, d := range ds {
		layer, ok := model.Codes[d.Code]
		if !ok || len(out) >= MaxDiagnoses {
			continue
		}
		nic := macLabel(d.NIC)
		switch {
		case d.NIC != "" && nic == "":
			nic = Placeholder
		case nic != "" && !b.admit(groupDiagnosis, nic):
			nic = Placeholder
		}
		key := [2]string{string(d.Code), nic}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, DiagnosisSeries{Code: string(d.Code), Layer: string(layer), NIC: nic})
	}
	return out
}

// probeKinds are the probe kinds that get series, each with its per-check
// cap and the label group that budgets its (target, nic) pairs ("" for
// none: external targets come from the host).
var probeKinds = map[model.ProbeKind]struct {
	cap   int
	group string
}{
	model.ProbeExternal: {MaxExternalProbes, ""},
	model.ProbeGateway:  {MaxGatewayProbes, groupGateway},
	model.ProbeAddress:  {MaxAddressProbes, groupAddress},
	model.ProbeService:  {probe.MaxProbes, ""},
}

// methodLabel is a probe's method as a label: one of the registered
// methods; "" for an address probe, which has none; icmp for a ping whose
// result predates methods (a fixture, an older state).
func methodLabel(kind model.ProbeKind, m string) string {
	switch {
	case kind == model.ProbeAddress:
		return ""
	case m == "" && (kind == model.ProbeGateway || kind == model.ProbeExternal):
		return "icmp"
	}
	return Enum(m, probe.Names()...)
}

// targetLabel is a probe's target as a label: its address (formatted
// here, from the engine's typed Addr, never parsed back from Target), or
// for a probe of kind service the name, host:port or URL of the
// operator's spec.
func targetLabel(p *model.ProbeResult) string {
	if p.Kind == model.ProbeService {
		return Host(p.Target, MaxRunes)
	}
	return addrText(p.Addr)
}

// probeLabels returns the probes that get series: those that ran (passed
// or failed) with a valid target and a kind of probeKinds, each label set
// once, at most the kind's cap per check, gateway and address labels
// within the budget. It also returns how many probes that ran got no
// series of their own (an exact duplicate of another is not counted).
func (b Budget) probeLabels(probes []model.ProbeResult) ([]ProbeSeries, int) {
	var out []ProbeSeries
	omitted := 0
	counts := make(map[model.ProbeKind]int, len(probeKinds))
	reported := make(map[[3]string]bool, len(probes)) // label sets as reported
	emitted := make(map[[3]string]bool, len(probes))  // label sets as emitted
	for _, p := range probes {
		k, known := probeKinds[p.Kind]
		if !known || (p.Status != model.ProbePassed && p.Status != model.ProbeFailed && p.Status != model.ProbeDegraded) {
			continue
		}
		kind, target, nic := string(p.Kind), targetLabel(&p), macLabel(p.NIC)
		if p.Kind == model.ProbeService {
			kind = kind + "/" + methodLabel(p.Kind, p.Method) // one series per method and target
		}
		if target == "" || reported[[3]string{kind, target, nic}] {
			continue
		}
		reported[[3]string{kind, target, nic}] = true
		if counts[p.Kind] >= k.cap {
			omitted = saturatingInc(omitted)
			continue
		}
		counts[p.Kind]++
		if k.group != "" && !b.admit(k.group, target, nic) {
			target, nic = Placeholder, Placeholder
		}
		key := [3]string{kind, target, nic}
		if emitted[key] {
			omitted = saturatingInc(omitted) // collapsed into the Placeholder
			continue
		}
		emitted[key] = true
		out = append(out, ProbeSeries{Kind: string(p.Kind), Method: methodLabel(p.Kind, p.Method), Target: target, NIC: nic,
			Passed: p.OK, RTT: p.RTT, Loss: p.Loss, PathMTU: p.PathMTU})
	}
	return out, omitted
}

// saturatingInc returns n+1, or n when n is already the largest value of
// its type: a counter sticks at its maximum instead of wrapping.
func saturatingInc[T int | int64 | uint | uint64](n T) T {
	if n+1 < n {
		return n
	}
	return n + 1
}
