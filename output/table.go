package output

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/vmcheck/vmcheck/model"
)

// ANSI colours for the table's STATE column.
const (
	colorReset  = "\x1b[0m"
	colorGreen  = "\x1b[32m"
	colorYellow = "\x1b[33m"
	colorRed    = "\x1b[31m"
	colorGrey   = "\x1b[90m"
)

func init() {
	RegisterFormat(Table, Writer{Check: WriteTable, Domains: WriteDomainsTable})
}

func stateColor(s model.State) string {
	switch s {
	case model.StateOK:
		return colorGreen
	case model.StateDegraded:
		return colorYellow
	case model.StateDown:
		return colorRed
	default:
		return colorGrey
	}
}

// WriteTable writes one line per domain, readable in a terminal: its
// probes by kind (ADDRESSES: whether the guest holds the addresses the
// platform assigned) and a REASON that leads with the first diagnosis.
// color adds ANSI colours to the state column; use it only on a TTY.
//
// A SERVICES column, before REASON, lists the probes of policy methods
// other than icmp ("dns www.example.test ok"); it is there only when some
// domain has such probes.
func WriteTable(w io.Writer, results []model.Result, color bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	services := false
	for _, r := range results {
		services = services || probeCell(r.Probes, model.ProbeService) != "-"
	}
	head := "DOMAIN\tSTATE\tAGENT\tOS\tEXTERNAL\tGATEWAYS\tADDRESSES\t"
	if services {
		head += "SERVICES\t"
	}
	fmt.Fprintln(tw, head+"REASON")
	for _, r := range results {
		state := string(r.State)
		if color {
			// Pad before colouring so tabwriter's widths stay right.
			state = stateColor(r.State) + fmt.Sprintf("%-8s", state) + colorReset
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t",
			r.Name, state, orDash(string(r.Agent.State)), OSText(r.OS),
			probeCell(r.Probes, model.ProbeExternal), probeCell(r.Probes, model.ProbeGateway),
			probeCell(r.Probes, model.ProbeAddress))
		if services {
			fmt.Fprintf(tw, "%s\t", probeCell(r.Probes, model.ProbeService))
		}
		fmt.Fprintf(tw, "%s\n", orDash(ReasonText(r)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

// probeCell renders probes of one kind as "target ok 1.2ms" items.
func probeCell(ps []model.ProbeResult, kind model.ProbeKind) string {
	var parts []string
	for _, p := range ps {
		if p.Kind == kind {
			parts = append(parts, ProbeSummary(p, Tight))
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
func WriteDomainsTable(w io.Writer, results []model.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tAGENT\tOS\tMAC\tDEVICE\tSOURCE\tIPS\tGATEWAY\tGATEWAY SOURCE\tTYPE")
	for _, r := range results {
		agent := string(r.Agent.State)
		if r.State == model.StatePaused {
			agent = "paused"
		}
		if len(r.NICs) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\n", r.Name, orDash(agent), OSText(r.OS))
		}
		for _, n := range r.NICs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, orDash(agent), OSText(r.OS), n.MAC, orDash(n.Device),
				orDash(strings.Trim(n.SourceType+":"+n.Source, ":")), orDash(strings.Join(n.IPs, ",")), orDash(n.Gateway), orDash(n.GatewaySource), n.NetworkType)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}
