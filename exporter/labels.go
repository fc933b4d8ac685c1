package exporter

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/probe"
)

// maxLabelRunes caps every free-form label value.
const maxLabelRunes = 64

// guestLabel makes a guest-reported string (OS id, OS version) fit for a
// label value: sanitised, cut to maxLabelRunes, and reduced to a
// conservative character set so that no guest can smuggle markup, quotes or
// look-alike characters into a dashboard or an alert.
func guestLabel(s string) string {
	s = guestagent.Sanitize(s, maxLabelRunes)
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

// hostLabel makes a host-side string (a domain name, a Nova instance or
// project name) safe as a label value without changing ordinary names:
// what guestagent.Sanitize makes of it — the one sanitiser of labels, logs,
// JSON, the terminal and the pages — with a fast path for names it leaves
// as they are.
func hostLabel(s string, max int) string {
	if len(s) <= max && guestagent.Unchanged(s) {
		return s
	}
	return guestagent.Sanitize(s, max)
}

// addrLabel formats an address through netip, so that a label holds only a
// canonical IP address (no zone). It returns "" for anything else.
func addrLabel(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return a.WithZone("").String()
}

// macLabel formats a MAC address canonically (lower case, colons), or
// returns "" when s is not one.
func macLabel(s string) string {
	mac, _ := guestagent.NormalMAC(s)
	return mac
}

// uuidLabel returns a domain UUID in canonical lower-case form, or "" when s
// is not one.
func uuidLabel(s string) string {
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

// enumLabel returns s when it is one of the allowed values, else "other".
func enumLabel(s string, allowed ...string) string {
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
// the placeholder in every label of the group. When a domain goes away
// (History.Retain), serve keeps its budget for when it comes back (a VM
// stopped and started again), for the last maxRetired such domains.
const (
	// placeholder replaces every label of a group whose budget is spent.
	placeholder = "other"
	// maxInfoSets bounds the distinct (os_family, os_id, os_version,
	// nova_instance, nova_project) sets of vmcheck_domain_info per domain.
	maxInfoSets = 8
	// maxGatewaySets bounds the distinct (target, nic) pairs of gateway
	// probes per domain: twice maxGatewayProbes, so that every NIC of a
	// full domain can change its gateway once.
	maxGatewaySets = 32
	// maxGatewayProbes caps the gateway probes (one per NIC) of one check
	// that get series; the rest are counted in vmcheck_probes_omitted.
	maxGatewayProbes = 16
	// maxExternalProbes caps the external probes of one check that get
	// series (their targets come from the host: config and metadata).
	maxExternalProbes = 16
	// maxAddressProbes caps the address probes of one check that get
	// series: an IPv4 and an IPv6 address for each of maxGatewayProbes
	// NICs.
	maxAddressProbes = 32
	// maxAddressSets bounds the distinct (target, nic) pairs of address
	// probes per domain: every address of a full domain may change once.
	maxAddressSets = 64
	// maxDiagnoses caps the vmcheck_diagnosis series of one check.
	maxDiagnoses = 32
	// maxDiagnosisNICs bounds the distinct nic values of vmcheck_diagnosis
	// per domain (a MAC each; the VM-wide "" is not counted).
	maxDiagnosisNICs = 32
	// maxNICSeries caps the vmcheck_nic_info series of one check.
	maxNICSeries = 32
	// maxNICSets bounds the distinct (nic, network) pairs of
	// vmcheck_nic_info per domain: a tenant may choose its ports' MACs.
	maxNICSets = 32
)

// Label groups, the keys of a labelBudget, with their size and budget.
const (
	groupInfo      = "domain_info"
	groupGateway   = "gateway_probe"
	groupAddress   = "address_probe"
	groupDiagnosis = "diagnosis"
	groupNIC       = "nic"
)

var groupLimits = map[string]struct{ arity, limit int }{
	groupInfo:      {5, maxInfoSets},
	groupGateway:   {2, maxGatewaySets},
	groupAddress:   {2, maxAddressSets},
	groupDiagnosis: {1, maxDiagnosisNICs},
	groupNIC:       {2, maxNICSets},
}

// labelSep joins the values of a label set; no label value contains it
// (every value is sanitised of control characters first).
const labelSep = "\x00"

// labelBudget remembers, for one domain, the distinct label sets each
// group has used, in order of first use.
type labelBudget map[string][]string

// admit reports whether the label set values of group may be used: it has
// been used before, or the group's budget has room for it (it is then
// remembered).
func (b labelBudget) admit(group string, values ...string) bool {
	key := strings.Join(values, labelSep)
	if slices.Contains(b[group], key) {
		return true
	}
	if len(b[group]) >= groupLimits[group].limit {
		return false
	}
	b[group] = append(b[group], key)
	return true
}

// sets returns the budget's label sets for the state file.
func (b labelBudget) sets() map[string][][]string {
	if len(b) == 0 {
		return nil
	}
	out := make(map[string][][]string, len(b))
	for g, keys := range b {
		for _, k := range keys {
			out[g] = append(out[g], strings.Split(k, labelSep))
		}
	}
	return out
}

// budgetFromSets rebuilds a budget from the state file, refusing anything
// that Record could not have produced: an unknown group, a set of the
// wrong size or with an unsanitised value, more sets than the budget.
func budgetFromSets(saved map[string][][]string) (labelBudget, error) {
	b := make(labelBudget, len(saved))
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
		return osFamilyLabel(set[0]) == set[0] && guestLabel(set[1]) == set[1] && guestLabel(set[2]) == set[2] &&
			hostLabel(set[3], maxLabelRunes) == set[3] && hostLabel(set[4], maxLabelRunes) == set[4]
	case groupGateway, groupAddress:
		return set[0] != "" && addrLabel(set[0]) == set[0] && macLabel(set[1]) == set[1]
	case groupDiagnosis:
		return set[0] != "" && macLabel(set[0]) == set[0]
	case groupNIC:
		return set[0] != "" && macLabel(set[0]) == set[0] && hostLabel(set[1], maxLabelRunes) == set[1]
	}
	return false
}

// osFamilyLabel returns the OS family as a label: one of the families
// vmcheck detects (or "" when none was set), else the placeholder.
func osFamilyLabel(s string) string {
	return enumLabel(s, "", "linux", "windows", "unknown")
}

// seriesLabels are the label values of one domain's per-check series:
// validated, capped and within the domain's label budget. History.Record
// computes them once per check, so the metrics stay a function of the
// snapshot.
type seriesLabels struct {
	// info are vmcheck_domain_info's os_family, os_id, os_version,
	// nova_instance and nova_project.
	info []string
	// probes are the probes that get series.
	probes []probeSeries
	// omitted counts the probes that ran but got no series of their own.
	omitted int
	// diagnoses are the diagnoses that get vmcheck_diagnosis series.
	diagnoses []diagnosisSeries
	// alert are vmcheck_domain_alert_info's notify, severity, receiver and
	// tenant.
	alert []string
	// nics are the vmcheck_nic_info series: each NIC's MAC and network.
	nics []nicSeries
	// cause is the vmcheck_domain_cause series, the first of diagnoses
	// with its NIC's network; nil when there is none.
	cause *causeSeries
}

// nicSeries is one vmcheck_nic_info series' labels.
type nicSeries struct {
	nic, network string
}

// causeSeries is the vmcheck_domain_cause series' labels.
type causeSeries struct {
	diagnosisSeries
	network string
}

// diagnosisSeries is one vmcheck_diagnosis series' labels.
type diagnosisSeries struct {
	code, layer, nic string
}

// probeSeries is one probe's series labels and values.
type probeSeries struct {
	kind, method, target, nic string
	passed                    bool
	rtt                       float64
	loss                      *float64
	pathMTU                   int
}

// labels returns the series labels of result r, spending the budget.
func (b labelBudget) labels(r *checker.Result, nova checker.Nova) seriesLabels {
	info := []string{osFamilyLabel(r.OS.Family), guestLabel(r.OS.ID), guestLabel(r.OS.Version),
		hostLabel(nova.Instance, maxLabelRunes), hostLabel(nova.Project, maxLabelRunes)}
	if !b.admit(groupInfo, info...) {
		for i := range info {
			info[i] = placeholder
		}
	}
	probes, omitted := b.probeLabels(r.Probes)
	l := seriesLabels{info: info, probes: probes, omitted: omitted, diagnoses: b.diagnosisLabels(r.Diagnosis),
		alert: alertLabels(r.Alert, nova), nics: b.nicLabels(r.NICs)}
	if len(l.diagnoses) > 0 {
		l.cause = &causeSeries{diagnosisSeries: l.diagnoses[0]}
		for _, n := range l.nics {
			if n.nic == l.cause.nic && n.nic != "" && n.nic != placeholder {
				l.cause.network = n.network
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
func alertLabels(a *checker.AlertPolicy, nova checker.Nova) []string {
	p := checker.Policy{}.EffectiveAlert(nova)
	if a != nil {
		p = *a
	}
	return []string{enumLabel(p.Notify, checker.NotifyValues...), enumLabel(p.Severity, checker.SeverityValues...),
		hostLabel(p.Receiver, maxLabelRunes), hostLabel(p.Tenant, maxLabelRunes)}
}

// nicLabels returns the vmcheck_nic_info series: each NIC with a MAC,
// once, at most maxNICSeries, with its network (networkLabel); a (nic,
// network) pair beyond the domain's budget is the placeholder in both.
func (b labelBudget) nicLabels(nics []checker.NICResult) []nicSeries {
	var out []nicSeries
	for _, n := range nics {
		mac := macLabel(n.MAC)
		if mac == "" || len(out) >= maxNICSeries || slices.ContainsFunc(out, func(s nicSeries) bool { return s.nic == mac }) {
			continue
		}
		s := nicSeries{nic: mac, network: networkLabel(n)}
		if !b.admit(groupNIC, s.nic, s.network) {
			s = nicSeries{nic: placeholder, network: placeholder}
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
func networkLabel(n checker.NICResult) string {
	return hostLabel(n.Source, maxLabelRunes)
}

// diagnosisLabels returns the diagnoses that get series: codes of the
// closed set checker.Codes only (anything else is dropped), with the
// code's own layer, each (code, nic) once, at most maxDiagnoses. nic is
// the MAC within the domain's budget, "" for a diagnosis of the whole VM,
// the placeholder for a MAC beyond the budget or one that does not parse.
func (b labelBudget) diagnosisLabels(ds []checker.Diagnosis) []diagnosisSeries {
	var out []diagnosisSeries
	seen := make(map[[2]string]bool, len(ds))
	for _, d := range ds {
		layer, ok := checker.Codes[d.Code]
		if !ok || len(out) >= maxDiagnoses {
			continue
		}
		nic := macLabel(d.NIC)
		switch {
		case d.NIC != "" && nic == "":
			nic = placeholder
		case nic != "" && !b.admit(groupDiagnosis, nic):
			nic = placeholder
		}
		key := [2]string{string(d.Code), nic}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, diagnosisSeries{code: string(d.Code), layer: string(layer), nic: nic})
	}
	return out
}

// probeKinds are the probe kinds that get series, each with its per-check
// cap and the label group that budgets its (target, nic) pairs ("" for
// none: external targets come from the host).
var probeKinds = map[checker.ProbeKind]struct {
	cap   int
	group string
}{
	checker.ProbeExternal: {maxExternalProbes, ""},
	checker.ProbeGateway:  {maxGatewayProbes, groupGateway},
	checker.ProbeAddress:  {maxAddressProbes, groupAddress},
	checker.ProbeService:  {probe.MaxProbes, ""},
}

// methodLabel is a probe's method as a label: one of the registered
// methods; "" for an address probe, which has none; icmp for a ping whose
// result predates methods (a fixture, an older state).
func methodLabel(kind checker.ProbeKind, m string) string {
	switch {
	case kind == checker.ProbeAddress:
		return ""
	case m == "" && (kind == checker.ProbeGateway || kind == checker.ProbeExternal):
		return "icmp"
	}
	return enumLabel(m, probe.Names()...)
}

// targetLabel is a probe's target as a label: an address, or for a probe
// of kind service the name, host:port or URL of the operator's spec.
func targetLabel(kind checker.ProbeKind, t string) string {
	if kind == checker.ProbeService {
		return hostLabel(t, maxLabelRunes)
	}
	return addrLabel(t)
}

// probeLabels returns the probes that get series: those that ran (passed
// or failed) with a valid target and a kind of probeKinds, each label set
// once, at most the kind's cap per check, gateway and address labels
// within the budget. It also returns how many probes that ran got no
// series of their own (an exact duplicate of another is not counted).
func (b labelBudget) probeLabels(probes []checker.ProbeResult) ([]probeSeries, int) {
	var out []probeSeries
	omitted := 0
	counts := make(map[checker.ProbeKind]int, len(probeKinds))
	reported := make(map[[3]string]bool, len(probes)) // label sets as reported
	emitted := make(map[[3]string]bool, len(probes))  // label sets as emitted
	for _, p := range probes {
		k, known := probeKinds[p.Kind]
		if !known || (p.Status != checker.ProbePassed && p.Status != checker.ProbeFailed && p.Status != checker.ProbeDegraded) {
			continue
		}
		kind, target, nic := string(p.Kind), targetLabel(p.Kind, p.Target), macLabel(p.NIC)
		if p.Kind == checker.ProbeService {
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
			target, nic = placeholder, placeholder
		}
		key := [3]string{kind, target, nic}
		if emitted[key] {
			omitted = saturatingInc(omitted) // collapsed into the placeholder
			continue
		}
		emitted[key] = true
		out = append(out, probeSeries{kind: string(p.Kind), method: methodLabel(p.Kind, p.Method), target: target, nic: nic,
			passed: p.OK, rtt: p.RTT, loss: p.Loss, pathMTU: p.PathMTU})
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
