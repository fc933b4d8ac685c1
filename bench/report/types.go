// Package report holds what labbench (bench/cmd/labbench) measures, as
// written to results.json, and what simbench (bench/cmd/simbench) prints
// (SimReport), and renders it as the Markdown table of BENCHMARKS.md.
package report

import (
	"time"

	"github.com/vmcheck/vmcheck/model"
)

// VMRun is one `vmcheck check` process.
type VMRun struct {
	N      int                `json:"n"`
	Wall   float64            `json:"wall_seconds"`
	Code   int                `json:"exit_code"`
	Checks map[string]float64 `json:"check_seconds"` // per domain, from duration_seconds
	States map[string]string  `json:"states"`
	// HostBusy is the fraction of the host's CPU time that was busy (all
	// processes) during the run, from /proc/stat.
	HostBusy float64 `json:"host_busy"`
	// CPU is the CPU time used during the run.
	CPU CPUUse `json:"cpu"`
	// PeakRSS is vmcheck's peak resident set size in bytes.
	PeakRSS float64 `json:"peak_rss_bytes"`
}

// CPUUse is the CPU time (user + system, seconds) the parts of a lab round
// used while it ran.
type CPUUse struct {
	QEMU     float64 `json:"qemu_seconds"`     // the lab guests' QEMU processes
	Libvirtd float64 `json:"libvirtd_seconds"` // the lab's libvirtd
	Tool     float64 `json:"tool_seconds"`     // vmcheck, or the baseline with its virsh processes
}

// BaselineRun is one bench/baseline.sh process.
type BaselineRun struct {
	N     int      `json:"n"`
	Wall  float64  `json:"wall_seconds"`
	Lines []string `json:"lines"`
	// HostBusy and CPU are as in VMRun.
	HostBusy float64 `json:"host_busy"`
	CPU      CPUUse  `json:"cpu"`
}

// FloorRun is one direct measurement of the floor of a check of
// lab-debian.
type FloorRun struct {
	// PingRTT are guest-ping round trips through libvirt (seconds).
	PingRTT []float64 `json:"guest_ping_rtt_seconds"`
	// ExecRTT and StatusRTT are the round trips of the two guest-exec and
	// of the guest-exec-status calls of the floor check.
	ExecRTT   []float64 `json:"guest_exec_rtt_seconds"`
	StatusRTT []float64 `json:"guest_exec_status_rtt_seconds"`
	// Floor is the wall time of the minimal check: guest-exec of both
	// pings (external, gateway), then guest-exec-status of each, back to
	// back without sleeping, until it has exited.
	Floor float64 `json:"floor_seconds"`
	// PingGateway and PingExternal are the runtimes of one ping in the
	// guest as the agent sees them: from the guest-exec reply to the
	// guest-exec-status that first reports it exited (polled back to back,
	// ± half a round trip).
	PingGateway  float64 `json:"ping_gateway_runtime_seconds"`
	PingExternal float64 `json:"ping_external_runtime_seconds"`
}

// Results is everything labbench measured.
type Results struct {
	Machine  Machine   `json:"machine"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Reps     int       `json:"reps"`
	Guests   []string  `json:"guests"`

	VMCheck map[int][]VMRun `json:"vmcheck"`
	// Solo are rounds of one guest each, by guest, for every guest of the
	// N = 8 round.
	Solo map[string][]VMRun `json:"solo"`
	// Idle is the host's busy fraction over one second before each
	// repetition, with no benchmark running: the background load.
	Idle     []float64             `json:"idle_host_busy"`
	Baseline map[int][]BaselineRun `json:"baseline"`
	Floor    []FloorRun            `json:"floor"`
	// Silent are rounds whose external target drops echo requests, by N.
	Silent map[int][]VMRun `json:"silent"`
	// IsoWith are rounds of the 8 guests with lab-freeze's agent frozen;
	// IsoWithout the same rounds without lab-freeze.
	IsoWith    []VMRun `json:"isolation_with_frozen"`
	IsoWithout []VMRun `json:"isolation_without_frozen"`

	// Hostile are the hostile-guest runs and their honest counterparts.
	Hostile []HostileRun `json:"hostile"`
	// Detect are the link cuts of the time-to-detect benchmark.
	Detect []DetectRun `json:"detect"`
	// Workers are the rounds against a libvirtd of few worker threads.
	Workers []WorkersRun `json:"libvirtd_workers"`

	// Policy are the probe-method checks, default and full policy.
	Policy []PolicyPair `json:"policy"`

	Sim []SimRun `json:"sim"`
}

// Machine describes the host the figures come from.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	OS        string  `json:"os"`
	Kernel    string  `json:"kernel"`
	Libvirt   string  `json:"libvirt"`
	QEMU      string  `json:"qemu"`
	Go        string  `json:"go"`
}

// HostileRun is one vmcheck process of the hostile benchmark.
type HostileRun struct {
	Mode    string             `json:"mode"` // check or serve
	Hostile bool               `json:"hostile"`
	Wall    float64            `json:"wall_seconds"`
	PeakRSS float64            `json:"peak_rss_bytes"` // VmHWM
	States  map[string]string  `json:"states,omitempty"`
	Checks  map[string]float64 `json:"check_seconds,omitempty"`
}

// DetectRun is one link cut as one serve saw it, in seconds from the cut.
type DetectRun struct {
	Serve   string  `json:"serve"` // retries or rounds
	Offset  float64 `json:"offset_seconds"`
	Down    float64 `json:"down_seconds"`
	Pending float64 `json:"alert_pending_seconds"`
	Firing  float64 `json:"alert_firing_seconds"`
}

// WorkersRun is one vmcheck round against a libvirtd of MaxWorkers.
type WorkersRun struct {
	MaxWorkers int    `json:"max_workers"`
	Flags      string `json:"flags"` // "" for the shipped defaults
	// AgentCalls is the limit vmcheck derived (its debug log), 0 if not
	// logged.
	AgentCalls int     `json:"agent_calls"`
	Domains    int     `json:"domains"`
	Wall       float64 `json:"wall_seconds"`
	Code       int     `json:"exit_code"`
	// Unresponsive counts the checks whose agent went unanswered; Overload
	// lists the reasons that name libvirt refusing or dropping calls.
	Unresponsive int               `json:"unresponsive"`
	Overload     []string          `json:"overload_errors"`
	States       map[string]string `json:"states"`
	// IdleList and RoundList are `virsh list` latencies (seconds), idle
	// before the round and back to back during it.
	IdleList  []float64 `json:"virsh_list_idle_seconds"`
	RoundList []float64 `json:"virsh_list_round_seconds"`
}

// PolicyPair is one repetition of the probe-method benchmark: a check of
// the policy guest (Setup.PolicyGuest) with the default probes and one
// with the full policy.
type PolicyPair struct {
	Default VMRun `json:"default"`
	Full    VMRun `json:"full"`
	// Tools are the runtimes in the guest of the full policy's commands,
	// each alone (from the guest-exec reply to the status read, polled
	// back to back, that first reports it exited), by command.
	Tools map[string]float64 `json:"tool_runtime_seconds"`
}

// SimRun is one bench/cmd/simbench process.
type SimRun struct {
	Name   string    `json:"name"`
	Args   []string  `json:"args"`
	Report SimReport `json:"report"`
}

// SimReport is what one bench/cmd/simbench process measured: the JSON
// object it prints on stdout, which labbench keeps in SimRun.
type SimReport struct {
	Mode        string     `json:"mode"`
	Metrics     string     `json:"metrics"`
	Domains     int        `json:"domains"`
	Concurrency int        `json:"concurrency"`
	Workers     int        `json:"libvirtd_workers"` // 0: no limit
	Latency     SimLatency `json:"latency"`
	PingTimeout float64    `json:"ping_timeout_seconds"`
	Silent      bool       `json:"silent_external"`
	GOMAXPROCS  int        `json:"gomaxprocs"`
	Policy      string     `json:"policy"`

	// Rounds: the first is cold (OS detection), the others warm (OS cached
	// per boot, as in `vmcheck serve`).
	Rounds []SimRound `json:"rounds"`
	// Cold and Warm summarise Rounds (Warm: medians of rounds 2..n).
	Cold SimRound `json:"cold"`
	Warm SimRound `json:"warm"`

	// States counts the verdicts of the last round.
	States map[model.State]int `json:"states"`

	// AgentCallLimit is the limit on agent calls in flight the checker
	// used (settings.Config.AgentCalls: -agent-calls, else vmcheck's
	// default), AgentCallPeak the most it had in flight, AgentCallBackoffs
	// how often it backed off (overload, climbing latency).
	AgentCallLimit    int `json:"agent_calls_limit"`
	AgentCallPeak     int `json:"agent_calls_peak"`
	AgentCallBackoffs int `json:"agent_call_backoffs"`

	// MemoryLimit is the Go runtime's soft memory limit, as serve and cron
	// set it for the domains (schedule.SetMemoryTarget; GOMEMLIMIT wins).
	MemoryLimit int64 `json:"memory_limit_bytes"`

	// PeakRSSBytes is the process's peak resident set (getrusage).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// RSSFileBytes is the file-backed part of the resident set at the end:
	// the binary and its shared libraries (libvirt and its dependencies),
	// pages shared with every other process that maps them.
	RSSFileBytes int64 `json:"rss_file_bytes"`
	// HeapInuse is the live heap at the end, after a GC.
	HeapInuse uint64 `json:"heap_inuse_bytes"`

	// serve: scrape latencies of GET /metrics over HTTP (gzip, as
	// Prometheus asks), medians: the first scrape after each round (every
	// domain's metrics are rebuilt), and the scrapes between rounds.
	ScrapeFresh   float64 `json:"scrape_fresh_seconds"`
	ScrapeCached  float64 `json:"scrape_cached_seconds"`
	ScrapeBytes   int     `json:"scrape_bytes"`
	ScrapeSamples int     `json:"scrape_samples"`
	// cron: the time of cron.WriteTextfile (gather, encode, write,
	// fsync, rename) after the round.
	TextfileWrite float64 `json:"textfile_write_seconds"`
	TextfileBytes int64   `json:"textfile_bytes"`
}

// SimLatency is the simulated latency (bench/sim.Latency) of a SimReport,
// in seconds.
type SimLatency struct {
	RoundTrip float64 `json:"round_trip_seconds"`
	Exec      float64 `json:"exec_seconds"`
	PingReply float64 `json:"ping_reply_seconds"`
	Jitter    float64 `json:"jitter"`
}

// SimRound is one simulated round: one CheckAll over every domain.
type SimRound struct {
	Wall          float64 `json:"wall_seconds"`
	CPUPerCheck   float64 `json:"cpu_per_check_seconds"`
	AllocsPerChk  float64 `json:"allocs_per_check"`
	BytesPerCheck float64 `json:"alloc_bytes_per_check"`
	AgentCalls    float64 `json:"agent_calls_per_check"`
	// AgentCallsOK is AgentCalls over the checks that came out ok.
	AgentCallsOK float64 `json:"agent_calls_per_ok_check"`
	MaxCheck     float64 `json:"max_check_seconds"`
	MedianCheck  float64 `json:"median_check_seconds"`
}
