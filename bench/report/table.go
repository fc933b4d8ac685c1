package report

import (
	"fmt"
	"slices"
	"strings"
)

func spread(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s–%s", Secs(slices.Min(v)), Secs(slices.Max(v)))
}

// Secs formats a duration in seconds for the table: 1.5 s above ten,
// 1.23 s above one, then 42 ms, then 4.2 ms.
func Secs(s float64) string {
	switch {
	case s >= 10:
		return fmt.Sprintf("%.1f s", s)
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	case s >= 0.01:
		return fmt.Sprintf("%.0f ms", s*1e3)
	default:
		return fmt.Sprintf("%.1f ms", s*1e3)
	}
}

func walls[T VMRun | BaselineRun](runs []T) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		switch r := any(r).(type) {
		case VMRun:
			out[i] = r.Wall
		case BaselineRun:
			out[i] = r.Wall
		}
	}
	return out
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// table accumulates markdown rows; String orders them by their first
// cell (the figure's number), keeping the order within a number.
type table struct{ rows [][]string }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	var b strings.Builder
	rows := slices.Clone(t.rows)
	slices.SortStableFunc(rows[2:], func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}
