// Package bootcache is what the engine (package checker) remembers of each
// domain boot between checks, keyed by the boot's Domain.BootID: the guest
// OS, the agent's guest-info, how long commands take there, what probe
// methods noted, and the default routes a check read. Facts of a boot are
// valid until it ends; Forget drops the boots that are gone. A Cache is
// safe for concurrent use; the empty boot ID is never remembered.
package bootcache

import (
	"sync"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// maxTook bounds the kinds of method commands whose time a boot keeps.
const maxTook = 32

// maxMemo bounds the values the probe methods keep per boot.
const maxMemo = 64

// Cache remembers per-boot facts. The zero Cache is not usable: see New.
type Cache struct {
	mu    sync.Mutex
	os    map[string]osdetect.Info
	boots map[string]*boot
}

// boot is what a Cache remembers of one domain boot besides its OS: the
// agent's guest-info (its commands change only when the agent restarts;
// dropped on any agent error) and how long a ping there takes, from
// guest-exec to a status that says it exited.
type boot struct {
	info     guestagent.Info
	infoOK   bool
	pingTime time.Duration
	// memo is what probe methods remember of the boot (a NIC's MTU).
	memo map[string]string
	// took is how long each kind of method command took (see LearnTime).
	took map[string]time.Duration
	// routes are the default routes a check read.
	routes *Routes
}

// Routes are the default routes a check of one boot read, kept for the
// next checks of the boot: reading them costs a guest command (two agent
// calls) that a healthy guest answers alike check after check.
type Routes struct {
	// Routes are the guest's default routes; Source is where they were
	// read.
	Routes []osdetect.DefaultRoute
	Source string
	// Ifaces fingerprints the interface list they were read with.
	Ifaces uint64
	// Passed says the last check that planned its probes from them
	// passed (SetPassed).
	Passed bool
}

// New returns an empty Cache.
func New() *Cache {
	return &Cache{os: make(map[string]osdetect.Info), boots: make(map[string]*boot)}
}

// OS returns the OS detected in the boot id, if it was remembered.
func (c *Cache) OS(id string) (osdetect.Info, bool) {
	if id == "" {
		return osdetect.Info{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.os[id]
	return info, ok
}

// SetOS remembers the OS detected in the boot id.
func (c *Cache) SetOS(id string, info osdetect.Info) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.os[id] = info
}

// Forget drops the facts of every boot whose ID is not in keep.
func (c *Cache) Forget(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.os {
		if !keep[id] {
			delete(c.os, id)
		}
	}
	for id := range c.boots {
		if !keep[id] {
			delete(c.boots, id)
		}
	}
}

// Info returns the guest-info remembered for the boot id, if any, and
// whether the OS is remembered too: only then may a check skip guest-ping.
func (c *Cache) Info(id string) (guestagent.Info, bool) {
	if id == "" {
		return guestagent.Info{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.boots[id]
	_, osOK := c.os[id]
	if !ok || !b.infoOK || !osOK {
		return guestagent.Info{}, false
	}
	return b.info, true
}

// SetInfo keeps (ok) or drops (!ok) the guest-info of the boot id.
func (c *Cache) SetInfo(id string, info guestagent.Info, ok bool) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boot(id)
	b.info, b.infoOK = info, ok
}

// boot returns the facts of one boot, creating them; call with c.mu held.
func (c *Cache) boot(id string) *boot {
	b, ok := c.boots[id]
	if !ok {
		b = &boot{}
		c.boots[id] = b
	}
	return b
}

// PingTime is how long pings of the boot id took, zero when unknown.
func (c *Cache) PingTime(id string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.boots[id]; ok {
		return b.pingTime
	}
	return 0
}

// LearnPingTime updates the expected ping time of the boot id from one
// ping that passed: found after reads status reads, elapsed after its
// guest-exec returned (see learned).
func (c *Cache) LearnPingTime(id string, elapsed time.Duration, reads int) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boot(id)
	b.pingTime = learned(b.pingTime, elapsed, reads)
}

// learned is the next estimate of a command's time after one run that
// took elapsed and was found exited at status read reads. The estimate
// tracks the 99th percentile of the command's time, so that its first
// status read, made when the estimate says the command is due to end,
// finds it ended 99 times in 100: it creeps down by 1/256 after a run
// found ended at the first read, and climbs by 99/256 (to at least
// elapsed) after one read too early. A read too early costs a libvirtd
// worker another call; a read late only keeps the check open a little
// longer, holding no worker: hence the high percentile (the 95th cost
// 5.06 calls per check over 25 simulated rounds, this 5.01). The first
// estimate of a boot is its first run's time and an eighth: one run is
// one sample of a spread, and starting from a fast one put the next
// reads of that boot early until it climbed (5.004 calls per warm check,
// 5.0005 with the eighth; BENCHMARKS.md).
func learned(est, elapsed time.Duration, reads int) time.Duration {
	switch {
	case est <= 0:
		return elapsed + elapsed/8
	case reads <= 1:
		return est - est/256
	}
	return max(elapsed, est+est*99/256)
}

// Took is how long method commands of kind key took in the boot id, zero
// when unknown.
func (c *Cache) Took(id, key string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.boots[id]; ok {
		return b.took[key]
	}
	return 0
}

// LearnTime is LearnPingTime for a kind of method command; at most
// maxTook kinds are kept per boot.
func (c *Cache) LearnTime(id, key string, elapsed time.Duration, reads int) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boot(id)
	if b.took == nil {
		b.took = map[string]time.Duration{}
	}
	if _, ok := b.took[key]; ok || len(b.took) < maxTook {
		b.took[key] = learned(b.took[key], elapsed, reads)
	}
}

// Memo keeps (v non-empty) or drops a probe method's value k for the
// boot id; at most maxMemo values are kept per boot.
func (c *Cache) Memo(id, k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boot(id)
	if b.memo == nil {
		b.memo = map[string]string{}
	}
	if v == "" {
		delete(b.memo, k)
		return
	}
	if len(b.memo) < maxMemo {
		b.memo[k] = v
	}
}

// Recall returns a probe method's value k for the boot id.
func (c *Cache) Recall(id, k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.boots[id]; ok {
		v, ok := b.memo[k]
		return v, ok
	}
	return "", false
}

// Routes returns the routes remembered for the boot id, if any.
func (c *Cache) Routes(id string) (Routes, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.boots[id]; ok && b.routes != nil {
		return *b.routes, true
	}
	return Routes{}, false
}

// SetRoutes remembers the routes a check of the boot id read; r.Routes
// must not change afterwards.
func (c *Cache) SetRoutes(id string, r Routes) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.boot(id).routes = &r
}

// SetPassed records whether the check that planned its probes from the
// remembered routes of the boot id passed: only then may the next reuse
// them.
func (c *Cache) SetPassed(id string, passed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.boots[id]; ok && b.routes != nil {
		b.routes.Passed = passed
	}
}
