// Package metrics builds vmcheck's Prometheus metrics in one place: the
// Collector renders the latest History snapshot (labels within each
// domain's budget, see exporter/labels) for both `vmcheck serve` and the
// cron textfile, and Handler serves /metrics from an encoding cached per
// snapshot.
package metrics

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/labels"
	"github.com/vmcheck/vmcheck/model"
)

// namespace prefixes every metric name.
const namespace = "vmcheck"

var (
	domainLabels = []string{"domain", "uuid"}
	probeLabels  = []string{"domain", "uuid", "kind", "method", "target", "nic"}

	descDomainState = prometheus.NewDesc(namespace+"_domain_state",
		"Reported connectivity state of the VM, one series per state, 1 for the current one. "+
			"Degraded and down are reported only after down_after_rounds consecutive failed rounds.",
		append(domainLabels[:2:2], "state"), nil)
	descDomainInfo = prometheus.NewDesc(namespace+"_domain_info",
		"Facts about the VM: guest OS (as detected through the agent, sanitised) and OpenStack Nova instance and project names; always 1.",
		append(domainLabels[:2:2], "os_family", "os_id", "os_version", "nova_instance", "nova_project"), nil)
	descAgentUp = prometheus.NewDesc(namespace+"_agent_up",
		"1 if the guest agent answered and allows guest-exec in the last check, else 0.",
		domainLabels, nil)
	descConsecutiveFailures = prometheus.NewDesc(namespace+"_consecutive_failures",
		"Number of consecutive rounds whose verdict was degraded or down.",
		domainLabels, nil)
	descStateSince = prometheus.NewDesc(namespace+"_state_since_timestamp_seconds",
		"Unix time since which the reported state holds (for an outage: the start of its first failed round).",
		domainLabels, nil)
	descLastCheck = prometheus.NewDesc(namespace+"_last_check_timestamp_seconds",
		"Unix time at which the last completed check of the VM started.",
		domainLabels, nil)
	descCheckDuration = prometheus.NewDesc(namespace+"_check_duration_seconds",
		"How long the last completed check of the VM took.",
		domainLabels, nil)
	descProbeSuccess = prometheus.NewDesc(namespace+"_probe_success",
		"1 if the last probe from inside the VM to the target passed (a ping got a reply; method says how it was probed: "+
			"icmp, mtu, dns, tcp, http; kind service for methods other than icmp), 0 if it failed. "+
			"Absent when the probe could not be run or its tool is missing (see the status page for why).",
		probeLabels, nil)
	descProbeRTT = prometheus.NewDesc(namespace+"_probe_rtt_seconds",
		"Round-trip time of the last successful probe from inside the VM to the target: the average of an icmp probe's replies, "+
			"a tcp probe's connect time, an http probe's response time.",
		probeLabels, nil)
	descProbeLoss = prometheus.NewDesc(namespace+"_probe_loss_ratio",
		"Ratio of the echo requests of the last icmp probe (count above 1) that got no reply.",
		probeLabels, nil)
	descProbePathMTU = prometheus.NewDesc(namespace+"_probe_path_mtu_bytes",
		"Largest packet the last mtu probe got through to the target with don't-fragment set (the guest NIC's MTU when it passed).",
		probeLabels, nil)
	descProbesOmitted = prometheus.NewDesc(namespace+"_probes_omitted",
		fmt.Sprintf("Probes of the VM's last check that ran but got no series of their own: beyond the per-VM caps "+
			"(%d gateway, %d external) or merged into the target=%q placeholder. Absent when 0.", labels.MaxGatewayProbes, labels.MaxExternalProbes, labels.Placeholder),
		domainLabels, nil)

	descDiagnosis = prometheus.NewDesc(namespace+"_diagnosis",
		"1 for each cause vmcheck diagnosed in the VM's last check: code from a closed set, layer host (the operator's), "+
			"guest (the tenant's) or network, nic the MAC of the NIC concerned (empty for the whole VM). Absent when the VM is ok.",
		append(domainLabels[:2:2], "code", "layer", "nic"), nil)

	descDomainAlertInfo = prometheus.NewDesc(namespace+"_domain_alert_info",
		"The VM's alert policy, from the operator's config and the domain's metadata, never from the guest: notify (operator, tenant, "+
			"both, none), severity (info, warning, critical), receiver (an Alertmanager receiver name, or empty) and tenant "+
			"(the Nova project, else the policy's tenant, else empty); always 1.",
		append(domainLabels[:2:2], "notify", "severity", "receiver", "tenant"), nil)
	descNICInfo = prometheus.NewDesc(namespace+"_nic_info",
		"One series per NIC of the VM (nic: its MAC) naming the host network it is plugged into: the libvirt network, "+
			"the bridge, or the direct device; empty when the host names none. Always 1.",
		append(domainLabels[:2:2], "nic", "network"), nil)
	descDomainCause = prometheus.NewDesc(namespace+"_domain_cause",
		"1 for the primary (most fundamental) cause vmcheck diagnosed in the VM's last check: one series per VM at most, as "+
			"vmcheck_diagnosis with the network of its NIC (empty for a cause of the whole VM). Absent when the VM is ok.",
		append(domainLabels[:2:2], "code", "layer", "nic", "network"), nil)

	descSourceUp = prometheus.NewDesc(namespace+"_source_up",
		"1 if vmcheck's connection to the hypervisor works, else 0; backend is libvirt or qemu.",
		[]string{"backend"}, nil)
	// descLibvirtUp is vmcheck_source_up under its first name, kept with
	// the same value on every backend for existing alerts and dashboards.
	descLibvirtUp = prometheus.NewDesc(namespace+"_libvirt_up",
		"1 if vmcheck's connection to libvirt works, else 0.", nil, nil)
	descRoundDuration = prometheus.NewDesc(namespace+"_round_duration_seconds",
		"How long the last completed round of checks took.", nil, nil)
	descLastRound = prometheus.NewDesc(namespace+"_last_round_timestamp_seconds",
		"Unix time at which the last completed round of checks started.", nil, nil)
	descRoundDomains = prometheus.NewDesc(namespace+"_round_domains",
		"Number of VMs the last completed round checked.", nil, nil)
	descDownAfter = prometheus.NewDesc(namespace+"_down_after_rounds",
		"Consecutive failed rounds after which a VM is reported degraded or down (--down-after).", nil, nil)
	descBuildInfo = prometheus.NewDesc(namespace+"_build_info",
		"A metric with a constant 1 value labelled by vmcheck's version and the Go version it was built with.",
		[]string{"version", "goversion"}, nil)
)

// Collector is a prometheus.Collector rendering the latest Snapshot of a
// History. It is the only place vmcheck's metrics are built; `vmcheck
// serve` and the cron textfile both gather it.
type Collector struct {
	h       *history.History
	version string
	// GoVersion is the Go version vmcheck_build_info names:
	// runtime.Version() from NewCollector; tests fix it.
	GoVersion string

	// cache holds each domain's metrics under its entry generation, so a
	// scrape only builds metrics for the domains checked since the last
	// one. Keyed by UUID.
	mu    sync.Mutex
	cache map[string]cachedEntry
}

type cachedEntry struct {
	gen     uint64
	metrics []prometheus.Metric
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over h. version is vmcheck's version
// for vmcheck_build_info.
func NewCollector(h *history.History, version string) *Collector {
	return &Collector{h: h, version: version, GoVersion: runtime.Version(), cache: make(map[string]cachedEntry)}
}

// Describe sends the descriptors of every metric the collector emits.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descDomainState, descDomainInfo, descAgentUp, descConsecutiveFailures, descStateSince,
		descLastCheck, descCheckDuration, descProbeSuccess, descProbeRTT, descProbeLoss, descProbePathMTU, descProbesOmitted, descDiagnosis,
		descDomainAlertInfo, descNICInfo, descDomainCause,
		descSourceUp, descLibvirtUp, descRoundDuration, descLastRound, descRoundDomains, descDownAfter, descBuildInfo,
	} {
		ch <- d
	}
}

// Collect renders the latest snapshot. It never blocks on a guest.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descBuildInfo, 1, c.version, c.GoVersion)
	if s.Backend != "" {
		gauge(descSourceUp, boolValue(s.LibvirtUp), s.Backend)
	}
	gauge(descLibvirtUp, boolValue(s.LibvirtUp))
	gauge(descDownAfter, float64(s.DownAfter))
	if !s.Round.Start.IsZero() {
		gauge(descRoundDuration, s.Round.Duration.Seconds())
		gauge(descLastRound, UnixSeconds(s.Round.Start))
		gauge(descRoundDomains, float64(s.Round.Domains))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]bool, len(s.Entries))
	for i := range s.Entries {
		e := &s.Entries[i]
		seen[e.Result.UUID] = true
		ce, ok := c.cache[e.Result.UUID]
		if !ok || ce.gen != e.Gen {
			ce = cachedEntry{gen: e.Gen, metrics: entryMetrics(e)}
			c.cache[e.Result.UUID] = ce
		}
		for _, m := range ce.metrics {
			ch <- m
		}
	}
	for k := range c.cache {
		if !seen[k] {
			delete(c.cache, k)
		}
	}
}

// entryMetrics builds the metrics of one domain.
func entryMetrics(e *history.Entry) []prometheus.Metric {
	r := &e.Result
	if r.CheckedAt.IsZero() {
		return nil // restored from a state file, not checked in this run
	}
	dom, uuid := labels.Host(r.Name, 256), labels.UUID(r.UUID)
	if uuid == "" {
		return nil
	}
	out := make([]prometheus.Metric, 0, 15+4*len(e.Labels.Probes)+len(e.Labels.Diagnoses)+len(e.Labels.NICs))
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	for _, st := range history.States {
		gauge(descDomainState, boolValue(e.State == st), dom, uuid, string(st))
	}
	l := &e.Labels
	gauge(descDomainInfo, 1, append([]string{dom, uuid}, l.Info...)...)
	gauge(descAgentUp, boolValue(r.Agent.State == model.AgentOK), dom, uuid)
	gauge(descConsecutiveFailures, float64(e.ConsecutiveFailures), dom, uuid)
	gauge(descStateSince, UnixSeconds(e.Since), dom, uuid)
	gauge(descLastCheck, UnixSeconds(r.CheckedAt), dom, uuid)
	gauge(descCheckDuration, r.Duration, dom, uuid)
	for _, p := range l.Probes {
		gauge(descProbeSuccess, boolValue(p.Passed), dom, uuid, p.Kind, p.Method, p.Target, p.NIC)
		if p.Passed && p.RTT > 0 {
			gauge(descProbeRTT, p.RTT, dom, uuid, p.Kind, p.Method, p.Target, p.NIC)
		}
		if p.Loss != nil {
			gauge(descProbeLoss, *p.Loss, dom, uuid, p.Kind, p.Method, p.Target, p.NIC)
		}
		if p.PathMTU > 0 {
			gauge(descProbePathMTU, float64(p.PathMTU), dom, uuid, p.Kind, p.Method, p.Target, p.NIC)
		}
	}
	if l.Omitted > 0 {
		gauge(descProbesOmitted, float64(l.Omitted), dom, uuid)
	}
	for _, d := range l.Diagnoses {
		gauge(descDiagnosis, 1, dom, uuid, d.Code, d.Layer, d.NIC)
	}
	if c := l.Cause; c != nil {
		gauge(descDomainCause, 1, dom, uuid, c.Code, c.Layer, c.NIC, c.Network)
	}
	if len(l.Alert) == 4 {
		gauge(descDomainAlertInfo, 1, dom, uuid, l.Alert[0], l.Alert[1], l.Alert[2], l.Alert[3])
	}
	for _, n := range l.NICs {
		gauge(descNICInfo, 1, dom, uuid, n.NIC, n.Network)
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// UnixSeconds is t as the metrics give a time: Unix seconds, to the
// millisecond.
func UnixSeconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}
