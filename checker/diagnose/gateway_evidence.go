package diagnose

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/vmcheck/vmcheck/internal/timing"
	"github.com/vmcheck/vmcheck/osdetect"
)

// EvidenceReserve is the time gatewayEvidence keeps, of the check's
// deadline, for a guest command after a wait: a wait that would eat into
// it is cut short (the read then likely finds the entry still pending:
// not fresh).
const EvidenceReserve = 3 * time.Second

// sleepUntil waits until t, or until ctx is done: Facts.Wait when unset.
func sleepUntil(ctx context.Context, t time.Time) error {
	return timing.Sleep(ctx, time.Until(t))
}

// gatewayEvidence runs the evidence commands osdetect.NextEvidence asks
// for (at most osdetect.MaxEvidenceCommands), each no earlier than it
// says after the failed gateway ping started, and parses them. The ping
// started at most f.PingTimeout before now (it failed: no reply within its
// timeout), so "now − PingTimeout" stands for its start.
func gatewayEvidence(ctx context.Context, f *Facts, iface string, gw netip.Addr) (osdetect.Evidence, error) {
	pingStart := time.Now().Add(-f.PingTimeout)
	wait := f.Wait
	if wait == nil {
		wait = sleepUntil
	}
	var reads []osdetect.EvidenceRead
	for len(reads) < osdetect.MaxEvidenceCommands {
		step, ok, err := osdetect.NextEvidence(f.Family, iface, gw, reads)
		if err != nil {
			return osdetect.Evidence{}, err
		}
		if !ok {
			break
		}
		at := pingStart.Add(step.NotBefore)
		if dl, has := ctx.Deadline(); has && at.After(dl.Add(-EvidenceReserve)) {
			at = dl.Add(-EvidenceReserve)
		}
		if err := wait(ctx, at); err != nil {
			break
		}
		start := time.Now()
		st, err := f.Guest.Run(ctx, step.Command, osdetect.EvidenceOutputLimit)
		if ctx.Err() != nil {
			break
		}
		reads = append(reads, osdetect.EvidenceRead{Status: st, Err: err, Since: start.Sub(pingStart)})
	}
	if len(reads) == 0 {
		return osdetect.Evidence{}, errors.New("evidence: nothing was read")
	}
	return osdetect.ParseEvidence(f.Family, iface, gw, reads)
}
