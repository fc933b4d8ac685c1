package sim

import "slices"

// Median returns the median of v, or 0 for an empty v. The lab and
// simulator benchmarks report medians, never lone samples.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
