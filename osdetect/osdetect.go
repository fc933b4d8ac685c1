// Package osdetect is vmcheck's engine for per-OS knowledge of guests:
// which family a guest belongs to, how to run ping inside it and read the
// result, how to find its default routes and read the evidence of a failed
// gateway, all through the guest agent. The knowledge of each family lives
// in a package of its own that registers a Spec (osdetect/linux,
// osdetect/windows); osdetect keeps the table, detection, the shared
// parsing helpers and the result types. A program links the families in
// with a blank import of osdetect/families.
package osdetect

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Sources of an Info.
const (
	SourceOSInfo = "osinfo" // guest-get-osinfo
	SourceProbe  = "probe"  // running cmd.exe /c ver
)

// Info is what Detect found out about a guest's operating system. All
// strings are sanitised.
type Info struct {
	Family  Family
	ID      string // os-release ID ("debian", "rhel") or "mswindows"
	Name    string // pretty name if known, e.g. "Debian GNU/Linux 12 (bookworm)"
	Version string // e.g. "12", "10.0.19045.5011"
	Source  string // SourceOSInfo or SourceProbe
}

const maxInfoRunes = 128

// Detect finds out the guest's OS family.
//
// It asks guest-get-osinfo first: an id a family claims ("mswindows":
// Windows) names that family, any other id the fallback family (Linux).
// Without an id (no /etc/os-release in the guest, or an agent older than
// QEMU 2.10) it runs the probes of the families that have one: Windows'
// "cmd.exe /c ver" prints "Microsoft Windows [Version …]" on Windows, and
// the Linux agent cannot spawn it, which names the fallback family. If
// guest-exec is disabled the error wraps guestagent.ErrCommandDisabled.
// Any other outcome yields Family Unknown and an error. Transport failures
// (guestagent.ErrUnresponsive and the like) are returned as they are,
// without probing.
func Detect(ctx context.Context, c *guestagent.Client) (Info, error) {
	oi, err := c.OSInfo(ctx)
	switch {
	case err == nil && oi.ID != "":
		return fromOSInfo(oi), nil
	case err != nil && !IsAgentError(err):
		return Info{Family: Unknown}, fmt.Errorf("detect OS: %w", err)
	}
	info := Info{Family: Unknown, Source: SourceProbe}
	names := probing()
	if len(names) == 0 {
		return info, errors.New("detect OS: guest-get-osinfo gave no id and no known OS family has a probe")
	}
	for _, name := range names {
		found, err := runProbe(ctx, c, families[name].Probe)
		if err != nil || found.Family != Unknown {
			return found, err
		}
	}
	if name, ok := fallback(); ok {
		info.Family = name
		return info, nil
	}
	return info, errors.New("detect OS: no probe identified the guest, and no OS family is the fallback")
}

// runProbe runs one family's probe: the Info it identifies, Family
// Unknown with no error when the agent could not spawn the program, or an
// error.
func runProbe(ctx context.Context, c *guestagent.Client, p *Probe) (Info, error) {
	info := Info{Family: Unknown, Source: SourceProbe}
	argv := strings.Join(append([]string{p.Command.Path}, p.Command.Args...), " ")
	cmd := p.Command
	cmd.CaptureOutput = true
	st, err := c.Run(ctx, cmd, 4096)
	switch {
	case err == nil:
		if st.ExitCode != nil && *st.ExitCode == 0 {
			if found, ok := p.Identify(st.Stdout); ok {
				return found, nil
			}
		}
		return info, fmt.Errorf("detect OS: %s ran but did not identify %s (%s): %q",
			argv, p.Title, ExitText(st), guestagent.Sanitize(string(st.Stdout), 80))
	case errors.Is(err, guestagent.ErrCommandDisabled):
		return info, fmt.Errorf("detect OS: guest-get-osinfo gave no id and the %s probe cannot run: %w", p.Command.Path, err)
	case IsSpawnFailure(err):
		return info, nil
	}
	return info, fmt.Errorf("detect OS: %s probe: %w", p.Command.Path, err)
}

// fromOSInfo maps a guest-get-osinfo reply with an id to Info: the family
// that claims the id, else the fallback family (Unknown if none is
// registered).
func fromOSInfo(oi guestagent.OSInfo) Info {
	info := Info{Family: Unknown, ID: oi.ID, Source: SourceOSInfo}
	var fam Spec
	if name, ok := fallback(); ok {
		info.Family, fam = name, families[name]
	}
	if name, f, ok := familyOfID(oi.ID); ok {
		info.Family, fam = name, f
	}
	info.Name = firstKnown(oi.PrettyName, oi.Name)
	info.Version = firstKnown(oi.VersionID, oi.Version)
	if info.Version == "" && fam.OSInfoVersion != nil {
		info.Version = fam.OSInfoVersion(oi)
	}
	info.ID = guestagent.Sanitize(info.ID, maxInfoRunes)
	info.Name = guestagent.Sanitize(info.Name, maxInfoRunes)
	info.Version = guestagent.Sanitize(info.Version, maxInfoRunes)
	return info
}

// firstKnown returns the first value that is neither empty nor "N/A".
func firstKnown(vals ...string) string {
	for _, v := range vals {
		if v != "" && !strings.EqualFold(v, "N/A") {
			return v
		}
	}
	return ""
}

// IsAgentError reports whether err is an error the agent itself returned
// (the command is unknown, disabled or failed), as opposed to a transport
// failure.
func IsAgentError(err error) bool {
	var ae *guestagent.Error
	return errors.As(err, &ae)
}

// IsSpawnFailure reports whether err says the guest agent could not start
// the program of a guest-exec: the agent's GenericError "Guest agent command
// failed, error was 'Failed to execute child process “X” (No such file or
// directory)'" (GLib's message, which may be translated in the guest; QEMU's
// prefix is not).
func IsSpawnFailure(err error) bool {
	var ae *guestagent.Error
	if !errors.As(err, &ae) || errors.Is(err, guestagent.ErrCommandDisabled) || errors.Is(err, guestagent.ErrCommandNotFound) {
		return false
	}
	return strings.Contains(ae.Desc, "Guest agent command failed") ||
		strings.Contains(ae.Desc, "Failed to execute child process") ||
		strings.Contains(ae.Desc, "No such file or directory")
}

// ExitText says how a guest command ended: "exit code 1", "signal 9" or
// "no exit status".
func ExitText(st guestagent.ExecStatus) string {
	switch {
	case st.Signal != nil:
		return fmt.Sprintf("signal %d", *st.Signal)
	case st.ExitCode != nil:
		return fmt.Sprintf("exit code %d", *st.ExitCode)
	}
	return "no exit status"
}
