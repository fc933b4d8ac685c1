package clidoc

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// manPage is vmcheck(1) in roff: the description, then every command with
// its own options, the options all commands share once, then exit status,
// environment, files and see also.
func manPage(a *cli.App) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH VMCHECK 1 \"\" %s \"User Commands\"\n", roffQuote("vmcheck "+a.Version))
	fmt.Fprintf(&b, ".SH NAME\nvmcheck \\- %s\n", roffText(a.Usage))
	b.WriteString(".SH SYNOPSIS\n.B vmcheck\n.I command\n.RI [ options ]\n.br\n.B vmcheck \\-\\-version\n")
	b.WriteString(".SH DESCRIPTION\n" + manDescription)
	var cmds []*cli.Command
	for _, c := range a.VisibleCommands() {
		if c.Name != "help" {
			cmds = append(cmds, c)
		}
	}
	if len(cmds) == 0 {
		return "", fmt.Errorf("no commands")
	}
	common := commonOptions(cmds)
	b.WriteString(".SH COMMANDS\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, ".SS %s\n%s\n", roffQuote("vmcheck "+c.Name+" [options]"), roffText(c.Usage))
		for _, o := range manOptions(c.VisibleFlags()) {
			if !common[o] {
				b.WriteString(o)
			}
		}
	}
	b.WriteString(".SH COMMON OPTIONS\nEvery command above accepts these.\n")
	for _, o := range manOptions(cmds[0].VisibleFlags()) {
		if common[o] {
			b.WriteString(o)
		}
	}
	b.WriteString(manTrailer)
	return b.String(), nil
}

// manOptions returns one roff .TP paragraph per flag: its names, the
// placeholder of its value, its usage and its default.
func manOptions(flags []cli.Flag) []string {
	var out []string
	for _, f := range compFlags(flags) {
		names := make([]string, len(f.names))
		for i, n := range f.names {
			names[i] = `\fB` + roffText(n) + `\fR`
		}
		head := strings.Join(names, ", ")
		switch {
		case len(f.values) > 0:
			head += ` \fI` + roffText(strings.Join(f.values, "|")) + `\fR`
		case f.arg != "":
			head += ` \fI` + roffText(f.arg) + `\fR`
		}
		text := f.usage
		if f.def != "" && !strings.Contains(text, "default") {
			text += " (default: " + f.def + ")"
		}
		out = append(out, ".TP\n"+head+"\n"+roffText(text)+"\n")
	}
	return out
}

// commonOptions returns the option paragraphs that every one of cmds has,
// word for word.
func commonOptions(cmds []*cli.Command) map[string]bool {
	count := map[string]int{}
	for _, c := range cmds {
		for _, o := range manOptions(c.VisibleFlags()) {
			count[o]++
		}
	}
	common := map[string]bool{}
	for o, n := range count {
		if n == len(cmds) {
			common[o] = true
		}
	}
	return common
}

// roffText escapes s for a roff text line: backslashes, minus signs, and a
// leading dot or quote that roff would take for a request.
func roffText(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffQuote is s as one double-quoted roff macro argument.
func roffQuote(s string) string {
	return `"` + strings.ReplaceAll(roffText(s), `"`, `""`) + `"`
}

const manDescription = `vmcheck tells, for every running VM of a KVM/libvirt node (or of a QEMU
host without libvirt, such as Proxmox VE), whether the VM can reach its
gateway and the outside world, seen from inside the guest: it runs ping in
each guest through the QEMU guest agent (guest\-exec).
.PP
Every guest needs a running qemu\-guest\-agent that allows guest\-exec and
guest\-exec\-status. vmcheck needs a read\-write libvirt connection: run it
as root or as a member of the libvirt group.
.PP
.B vmcheck check
is a one\-shot check (also a Nagios/Icinga plugin),
.B vmcheck cron
writes a node_exporter textfile,
.B vmcheck serve
is a Prometheus exporter with a status page and
.B vmcheck domains
shows what discovery finds, without pinging.
`

// manTrailer ends the page.
const manTrailer = `.SH LIMITS
Two limits bound what a round costs, because a check and an agent call
cost different things.
.TP
.B \-\-agent\-calls
protects libvirtd: it bounds the guest agent calls in flight over all
VMs. libvirtd serves every client with max_workers threads (20 by
default), and an agent call holds one until the guest agent answers. By
default vmcheck reads max_workers through libvirtd's admin socket, running
.B virt\-admin srv\-threadpool\-info libvirtd
(root only) and uses all but a tenth of it, at least 2 left free; when
it cannot read it, 18. When libvirt reports overload, or short agent calls
take three times their usual time (libvirtd queueing them), vmcheck lowers the
limit for a while. Calls to one VM run one at a time, as libvirt runs them.
.TP
.B \-\-concurrency
bounds the VMs checked at once (default 128): a check waiting for its
guest's ping holds no libvirtd worker, so many can wait at once; it bounds
vmcheck's own memory.
.SH EXIT STATUS
.TP
.B 0
every VM is ok (paused VMs are reported, not probed)
.TP
.B 1
some VM could not be checked (agent missing, guest\-exec blocked, deadline)
and no probe failed
.TP
.B 2
some probe failed: a VM is degraded or down
.TP
.B 3
vmcheck itself could not run (bad flag or config, libvirt unreachable);
one line on stderr says why
.SH ENVIRONMENT
.TP
.B LIBVIRT_DEFAULT_URI
the libvirt URI when neither \fB\-\-connect\fR nor \fBconnect:\fR in the
config names one; without it, qemu:///system
.SH FILES
.TP
.I /etc/vmcheck/vmcheck.yml
the configuration, read with \fB\-\-config\fR; it describes every key
.TP
.I /var/lib/vmcheck/cron\-state.json
the per\-VM history of \fBvmcheck cron\fR between runs (\fB\-\-state\-file\fR);
a missing directory is created with mode 0700
.TP
.I /lib/systemd/system/vmcheck.service
runs \fBvmcheck serve\fR (metrics and status page on port 9921)
.TP
.I /lib/systemd/system/vmcheck\-cron.timer
runs \fBvmcheck cron\fR every 5 minutes (vmcheck\-cron.service), writing
into /var/lib/prometheus/node\-exporter
.SH SEE ALSO
.BR virsh (1),
.BR qemu\-ga (8),
.BR prometheus\-node\-exporter (1);
README.md.gz and docs/ in /usr/share/doc/vmcheck (or vmcheck\-nolibvirt)
`
