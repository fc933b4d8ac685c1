// Package history keeps what the exporter knows about each domain: its
// last check, the state it reports (degraded or down only after DownAfter
// failed rounds in a row), since when, its failure streak and label
// budget, and its last agent exchange (Recorder). Handlers and collectors
// read immutable Snapshots; Save and Load carry it between cron runs.
package history

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/exporter/labels"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
)

// DefaultDownAfter is how many consecutive failed rounds it takes before a
// VM counts as degraded or down.
const DefaultDownAfter = 3

// Entry is what the exporter knows about one domain: its last completed
// check and its history.
type Entry struct {
	// Result is the last completed check, as the checker returned it.
	Result model.Result
	// Nova is the domain's OpenStack metadata, if any.
	Nova model.Nova
	// Policy is the effective per-domain policy of the last check.
	Policy policy.Policy
	// State is the reported state: Result.State, except that a failing
	// verdict (degraded, down) is only reported after DownAfter consecutive
	// failed rounds; until then the previous state holds (unknown for a
	// domain never seen before) and Pending is true.
	State model.State
	// Pending is true while probes fail but fewer than DownAfter rounds in
	// a row have failed.
	Pending bool
	// Since is when State began: for a confirmed failure, the start of the
	// first failed round of the streak.
	Since time.Time
	// ConsecutiveFailures counts the rounds in a row whose verdict was
	// degraded or down; any other verdict resets it.
	ConsecutiveFailures int
	// LastOK is the start of the last round whose verdict was ok (zero if
	// none was seen).
	LastOK time.Time
	// Exchange is the agent exchange of the last check, sanitised, when
	// recording is on.
	Exchange []Exchange

	// Labels are the label values of the entry's series, computed once by
	// Record within the domain's label budget.
	Labels labels.Series
	// Gen changes whenever the entry does; the metrics Collector caches
	// each entry's metrics under it.
	Gen uint64
}

// Round describes the last completed periodic round.
type Round struct {
	// Start is when the round began; zero before the first round.
	Start time.Time
	// Duration is how long the round took.
	Duration time.Duration
	// Domains is how many domains the round checked.
	Domains int
}

// Snapshot is an immutable view of the History: handlers and collectors
// read it without locks. Entries are sorted by domain name, then UUID.
type Snapshot struct {
	Entries []Entry
	// LibvirtUp is whether the connection to the hypervisor works,
	// whatever the backend: the name predates the QEMU backend.
	// vmcheck_libvirt_up and vmcheck_source_up both report it.
	LibvirtUp bool
	// Backend names the backend LibvirtUp is about (its
	// settings.Backend's Name); empty until SetSourceUp names one.
	Backend   string
	Round     Round
	DownAfter int
}

// Lookup returns the entry of the domain with this UUID.
func (s *Snapshot) Lookup(uuid string) (Entry, bool) {
	for _, e := range s.Entries {
		if e.Result.UUID == uuid {
			return e, true
		}
	}
	return Entry{}, false
}

// History keeps the latest result and the state history of every domain.
// It is safe for concurrent use.
type History struct {
	mu        sync.Mutex
	gen       uint64
	downAfter int
	vms       map[string]*vmHistory
	libvirtUp bool
	backend   string
	round     Round
	snap      *Snapshot // nil when stale
	// retired keeps the label budgets of domains Retain forgot, so that a
	// VM that stops and starts again spends the budget it had, not a new
	// one: at most MaxRetired, the oldest dropped first (retiredOrder).
	retired      map[string]labels.Budget
	retiredOrder []string
}

// MaxRetired bounds the label budgets kept for domains that are gone: a
// UUID comes back to its old budget unless MaxRetired other domains went
// away after it.
const MaxRetired = 4096

// vmHistory is one domain's mutable record.
type vmHistory struct {
	entry Entry
	// failingSince is the start of the first failed round of the current
	// streak.
	failingSince time.Time
	// budget bounds the label values the domain's series may take.
	budget labels.Budget
}

// New returns an empty history in which a VM counts as degraded or
// down after downAfter consecutive failed rounds (DefaultDownAfter if
// downAfter < 1).
func New(downAfter int) *History {
	if downAfter < 1 {
		downAfter = DefaultDownAfter
	}
	return &History{downAfter: downAfter, vms: make(map[string]*vmHistory)}
}

// DownAfter returns the number of consecutive failed rounds that make a VM
// degraded or down.
func (h *History) DownAfter() int { return h.downAfter }

// States are the states an Entry reports, in the order the metrics and
// the status page list them.
var States = []model.State{
	model.StateOK, model.StateDegraded, model.StateDown, model.StateUnknown, model.StatePaused,
}

func failed(s model.State) bool {
	return s == model.StateDegraded || s == model.StateDown
}

// Record adds one completed check of domain d. ex is its agent exchange
// (nil when not recorded). It returns the reported state before the check
// ("" for a domain not seen before) and the updated entry.
func (h *History) Record(d model.Domain, r model.Result, ex []Exchange) (model.State, Entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.snap = nil
	key := r.UUID
	v, ok := h.vms[key]
	if !ok {
		v = &vmHistory{budget: h.unretire(key)}
		h.vms[key] = v
	}
	e := &v.entry
	prev := e.State
	at := r.CheckedAt
	if failed(r.State) {
		if e.ConsecutiveFailures == 0 {
			v.failingSince = at
		}
		if e.ConsecutiveFailures < math.MaxInt { // saturating, not wrapping
			e.ConsecutiveFailures++
		}
	} else {
		e.ConsecutiveFailures = 0
		v.failingSince = time.Time{}
	}
	if r.State == model.StateOK {
		e.LastOK = at
	}

	next, since := r.State, at
	e.Pending = false
	if failed(r.State) {
		switch {
		case e.ConsecutiveFailures < h.downAfter:
			// Not an outage yet: the previous verdict stands.
			next, e.Pending = e.State, true
			if next == "" {
				next = model.StateUnknown
			}
		case !failed(e.State):
			// Confirmed: the outage began with the first failed round.
			since = v.failingSince
		}
	}
	if next != e.State || e.Since.IsZero() {
		e.State, e.Since = next, since
	}
	e.Result, e.Nova, e.Policy, e.Exchange = r, d.Nova, d.Policy, ex
	e.Labels = v.budget.Labels(&e.Result, e.Nova)
	// gen is an identity for the Collector's cache, not a count: wrapping
	// (after 2^64 checks) keeps it different from the previous value,
	// saturating would not.
	h.gen++
	e.Gen = h.gen
	return prev, *e
}

// Retain forgets every domain whose UUID is not in keep: a VM that is gone
// loses its series.
func (h *History) Retain(keep map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, v := range h.vms {
		if !keep[k] {
			h.retire(k, v.budget)
			delete(h.vms, k)
			h.snap = nil
		}
	}
}

// retire keeps the label budget of a domain that is gone; h.mu is held.
func (h *History) retire(uuid string, b labels.Budget) {
	if h.retired == nil {
		h.retired = make(map[string]labels.Budget)
	}
	if _, ok := h.retired[uuid]; !ok {
		h.retiredOrder = append(h.retiredOrder, uuid)
	}
	h.retired[uuid] = b
	for len(h.retiredOrder) > MaxRetired {
		delete(h.retired, h.retiredOrder[0])
		h.retiredOrder = h.retiredOrder[1:]
	}
}

// unretire returns the budget a returning domain had, or a new one;
// h.mu is held.
func (h *History) unretire(uuid string) labels.Budget {
	b, ok := h.retired[uuid]
	if !ok {
		return labels.Budget{}
	}
	delete(h.retired, uuid)
	if i := slices.Index(h.retiredOrder, uuid); i >= 0 {
		h.retiredOrder = slices.Delete(h.retiredOrder, i, i+1)
	}
	return b
}

// SetLibvirtUp records whether the connection to the hypervisor works,
// keeping the backend SetSourceUp last named (none: vmcheck_source_up is
// not emitted). Callers that know their backend use SetSourceUp.
func (h *History) SetLibvirtUp(up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.libvirtUp != up {
		h.libvirtUp, h.snap = up, nil
	}
}

// SetSourceUp records whether the connection to the hypervisor works and
// which backend it is (settings.Config.Backend): vmcheck_source_up{backend}
// reports it, and vmcheck_libvirt_up too, with the same value, for the
// alerts and dashboards written before the QEMU backend.
func (h *History) SetSourceUp(backend string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.libvirtUp != up || h.backend != backend {
		h.libvirtUp, h.backend, h.snap = up, backend, nil
	}
}

// SetRound records the last completed periodic round.
func (h *History) SetRound(r Round) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.round, h.snap = r, nil
}

// Snapshot returns the current state. The result must not be modified.
func (h *History) Snapshot() *Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.snap != nil {
		return h.snap
	}
	s := &Snapshot{Entries: make([]Entry, 0, len(h.vms)), LibvirtUp: h.libvirtUp, Backend: h.backend, Round: h.round, DownAfter: h.downAfter}
	for _, v := range h.vms {
		s.Entries = append(s.Entries, v.entry)
	}
	slices.SortFunc(s.Entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Result.Name, b.Result.Name), cmp.Compare(a.Result.UUID, b.Result.UUID))
	})
	h.snap = s
	return s
}

// Results returns the last result of every domain, sorted by name.
func (s *Snapshot) Results() []model.Result {
	out := make([]model.Result, len(s.Entries))
	for i, e := range s.Entries {
		out[i] = e.Result
	}
	return out
}

// stateFileVersion is the version of the cron state file format.
const stateFileVersion = 1

// MaxStateSize is the largest state file Load reads and Save writes: about
// 50 000 ordinary domains, or 4 000 whose label budgets are full.
const MaxStateSize = 16 << 20

// maxSavedName bounds a domain name in the state file.
const maxSavedName = 1024

// savedState is the cron state file: what the history must remember
// between two runs.
type savedState struct {
	Version int                   `json:"version"`
	Domains map[string]savedEntry `json:"domains"`
}

type savedEntry struct {
	Name                string      `json:"name"`
	State               model.State `json:"state"`
	Since               time.Time   `json:"since"`
	ConsecutiveFailures int         `json:"consecutive_failures"`
	FailingSince        time.Time   `json:"failing_since,omitzero"`
	LastOK              time.Time   `json:"last_ok,omitzero"`
	// LabelSets is the domain's label budget: the label sets its series
	// have used, by group, so that cron runs share one budget.
	LabelSets map[string][][]string `json:"label_sets,omitempty"`
}

// Save writes what the next run needs (state, since, failure streak, label
// budget) as JSON. Results themselves are not saved. It writes nothing and
// returns an error when the state would exceed MaxStateSize.
func (h *History) Save(w io.Writer) error {
	h.mu.Lock()
	st := savedState{Version: stateFileVersion, Domains: make(map[string]savedEntry, len(h.vms))}
	for k, v := range h.vms {
		st.Domains[k] = savedEntry{
			Name: v.entry.Result.Name, State: v.entry.State, Since: v.entry.Since,
			ConsecutiveFailures: v.entry.ConsecutiveFailures, FailingSince: v.failingSince, LastOK: v.entry.LastOK,
			LabelSets: v.budget.Sets(),
		}
	}
	h.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("writing history state: %w", err)
	}
	if len(b) > MaxStateSize {
		return fmt.Errorf("writing history state: %d bytes for %d domains, more than the %d a state file may hold", len(b), len(st.Domains), MaxStateSize)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing history state: %w", err)
	}
	return nil
}

// Load restores what Save wrote, replacing the history's domains. Each
// restored domain keeps its state until its next Record; until then it has
// no result. Load is all or nothing: it reads at most MaxStateSize bytes,
// and on any error (too large, not JSON, another version, one invalid
// domain) it returns an error naming the problem and leaves the history as
// it was.
func (h *History) Load(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxStateSize+1))
	if err != nil {
		return fmt.Errorf("reading history state: %w", err)
	}
	if len(b) > MaxStateSize {
		return fmt.Errorf("reading history state: larger than %d bytes; refusing it", MaxStateSize)
	}
	var st savedState
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("reading history state: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("reading history state: data after the JSON document")
	}
	if st.Version != stateFileVersion {
		return fmt.Errorf("reading history state: version %d, want %d", st.Version, stateFileVersion)
	}
	vms := make(map[string]*vmHistory, len(st.Domains))
	for k, s := range st.Domains {
		v, err := restore(k, s)
		if err != nil {
			return fmt.Errorf("reading history state: domain %q: %w", k, err)
		}
		vms[k] = v
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.vms, h.snap = vms, nil
	return nil
}

// restore validates one saved domain and rebuilds its record.
func restore(uuid string, s savedEntry) (*vmHistory, error) {
	switch {
	case labels.UUID(uuid) == "":
		return nil, errors.New("not a UUID")
	case len(s.Name) > maxSavedName || !utf8.ValidString(s.Name):
		return nil, fmt.Errorf("name: not valid UTF-8 of at most %d bytes", maxSavedName)
	case !slices.Contains(States, s.State):
		return nil, fmt.Errorf("unknown state %q", s.State)
	case s.ConsecutiveFailures < 0:
		return nil, fmt.Errorf("consecutive_failures %d is negative", s.ConsecutiveFailures)
	}
	budget, err := labels.BudgetFromSets(s.LabelSets)
	if err != nil {
		return nil, err
	}
	return &vmHistory{
		entry: Entry{
			Result: model.Result{Name: s.Name, UUID: uuid}, State: s.State, Since: s.Since,
			ConsecutiveFailures: s.ConsecutiveFailures, LastOK: s.LastOK,
		},
		failingSince: s.FailingSince,
		budget:       budget,
	}, nil
}
