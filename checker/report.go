package checker

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Exit codes, following the Nagios plugin convention.
const (
	// ExitOK: every VM is ok (paused VMs count as ok: they are not probed).
	ExitOK = 0
	// ExitUnknownVM: some VM could not be checked and no probe failed.
	ExitUnknownVM = 1
	// ExitProbeFailed: some probe failed.
	ExitProbeFailed = 2
	// ExitError: vmcheck itself could not run.
	ExitError = 3
)

// ExitCode summarises results as a process exit code.
func ExitCode(results []Result) int {
	code := ExitOK
	for _, r := range results {
		switch r.State {
		case StateDegraded, StateDown:
			return ExitProbeFailed
		case StateUnknown:
			code = ExitUnknownVM
		}
	}
	return code
}

// WriteJSON writes the JSON report.
func WriteJSON(w io.Writer, results []Result) error {
	if results == nil {
		results = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Report{Domains: results}); err != nil {
		return fmt.Errorf("writing json: %w", err)
	}
	return nil
}

// ANSI colours for the table's STATE column.
const (
	colorReset  = "\x1b[0m"
	colorGreen  = "\x1b[32m"
	colorYellow = "\x1b[33m"
	colorRed    = "\x1b[31m"
	colorGrey   = "\x1b[90m"
)

func stateColor(s State) string {
	switch s {
	case StateOK:
		return colorGreen
	case StateDegraded:
		return colorYellow
	case StateDown:
		return colorRed
	default:
		return colorGrey
	}
}

// WriteTable writes one line per domain, readable in a terminal. color adds
// ANSI colours to the state column; use it only on a TTY.
func WriteTable(w io.Writer, results []Result, color bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSTATE\tAGENT\tOS\tEXTERNAL\tGATEWAYS\tREASON")
	for _, r := range results {
		state := string(r.State)
		if color {
			// Pad before colouring so tabwriter's widths stay right.
			state = stateColor(r.State) + fmt.Sprintf("%-8s", state) + colorReset
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Name, state, orDash(string(r.Agent.State)), osCell(r.OS), probeCell(r.Probes, ProbeExternal), probeCell(r.Probes, ProbeGateway), orDash(r.Reason))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

func osCell(o OSResult) string {
	if o.ID != "" {
		return o.Family + "/" + o.ID
	}
	return o.Family
}

// probeCell renders probes of one kind as "target ok 1.2ms" items.
func probeCell(ps []ProbeResult, kind ProbeKind) string {
	var parts []string
	for _, p := range ps {
		if p.Kind != kind {
			continue
		}
		switch p.Status {
		case ProbePassed:
			if p.RTT > 0 {
				parts = append(parts, fmt.Sprintf("%s ok %.1fms", p.Target, p.RTT*1000))
			} else {
				parts = append(parts, p.Target+" ok")
			}
		case ProbeNotConfigured:
			parts = append(parts, "not configured")
		default:
			parts = append(parts, fmt.Sprintf("%s %s", p.Target, p.Status))
		}
	}
	return orDash(strings.Join(parts, ", "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteDomainsTable writes the discovery view: one line per NIC, with its
// addresses, gateway and where the gateway came from.
func WriteDomainsTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tAGENT\tOS\tMAC\tDEVICE\tSOURCE\tIPS\tGATEWAY\tGATEWAY SOURCE\tTYPE")
	for _, r := range results {
		agent := string(r.Agent.State)
		if r.State == StatePaused {
			agent = "paused"
		}
		if len(r.NICs) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\n", r.Name, orDash(agent), osCell(r.OS))
		}
		for _, n := range r.NICs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, orDash(agent), osCell(r.OS), n.MAC, orDash(n.Device),
				orDash(strings.Trim(n.SourceType+":"+n.Source, ":")), orDash(strings.Join(n.IPs, ",")), orDash(n.Gateway), orDash(n.GatewaySource), n.NetworkType)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}
