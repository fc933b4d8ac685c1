package bootcache

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLearnedPercentile: fed a command whose time is spread uniformly
// over 80–120 ms, with a status read at the estimate finding it ended
// when it took no longer, the estimate settles near the 99th percentile:
// about one first read in a hundred comes too early (a second call), and
// on average the estimate is not far above the longest time.
func TestLearnedPercentile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var est, sum time.Duration
	misses, n := 0, 0
	for i := range 40000 {
		took := 80*time.Millisecond + time.Duration(rng.Int64N(int64(40*time.Millisecond)))
		reads, elapsed := 1, est
		if est <= 0 || took > est {
			reads, elapsed = 2, took
		}
		est = learned(est, elapsed, reads)
		if i >= 10000 { // after the burn-in
			n++
			sum += est
			if reads > 1 {
				misses++
			}
		}
	}
	mean := sum / time.Duration(n)
	t.Logf("%d of %d first reads too early; mean estimate %s", misses, n, mean)
	if rate := float64(misses) / float64(n); rate < 0.002 || rate > 0.02 {
		t.Errorf("%d of %d first reads too early (%.2f %%), want about 1 %%", misses, n, 100*rate)
	}
	if mean < 118*time.Millisecond || mean > 140*time.Millisecond {
		t.Errorf("mean estimate %s, want from the 95th percentile (118 ms) to 140 ms", mean)
	}
}

// The first run of a boot is one sample: the estimate starts an eighth
// above it, then moves as TestLearnedPercentile shows.
func TestLearnedFirstSample(t *testing.T) {
	if got, want := learned(0, 96*time.Millisecond, 3), 108*time.Millisecond; got != want {
		t.Errorf("first estimate after a 96 ms run: %s, want %s", got, want)
	}
	if got, want := learned(108*time.Millisecond, 90*time.Millisecond, 1), 108*time.Millisecond-108*time.Millisecond/256; got != want {
		t.Errorf("after a hit: %s, want %s", got, want)
	}
}
