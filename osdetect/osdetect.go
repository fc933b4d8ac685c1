// Package osdetect holds vmcheck's per-OS knowledge of guests: which family
// a guest belongs to, how to run ping inside it and read the result, and how
// to find its default routes, all through the guest agent.
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
// Windows) names that family, any other id Linux. Without an id (no
// /etc/os-release in the guest, or an agent older than QEMU 2.10) it
// probes: it runs "cmd.exe /c ver", which prints "Microsoft Windows
// [Version …]" on Windows and which the Linux agent cannot spawn. If
// guest-exec is disabled the error wraps guestagent.ErrCommandDisabled. Any
// other outcome yields Family Unknown and an error. Transport failures
// (guestagent.ErrUnresponsive and the like) are returned as they are,
// without probing.
func Detect(ctx context.Context, c *guestagent.Client) (Info, error) {
	oi, err := c.OSInfo(ctx)
	switch {
	case err == nil && oi.ID != "":
		return fromOSInfo(oi), nil
	case err != nil && !isAgentError(err):
		return Info{Family: Unknown}, fmt.Errorf("detect OS: %w", err)
	}

	info := Info{Family: Unknown, Source: SourceProbe}
	st, err := c.Run(ctx, windowsProbe, 4096)
	switch {
	case err == nil:
		if st.ExitCode != nil && *st.ExitCode == 0 {
			if win, ok := windowsVer(st.Stdout); ok {
				return win, nil
			}
		}
		return info, fmt.Errorf("detect OS: cmd.exe /c ver ran but did not identify Windows (%s): %q",
			exitText(st), guestagent.Sanitize(string(st.Stdout), 80))
	case errors.Is(err, guestagent.ErrCommandDisabled):
		return info, fmt.Errorf("detect OS: guest-get-osinfo gave no id and the cmd.exe probe cannot run: %w", err)
	case IsSpawnFailure(err):
		info.Family = Linux
		return info, nil
	}
	return info, fmt.Errorf("detect OS: cmd.exe probe: %w", err)
}

// fromOSInfo maps a guest-get-osinfo reply with an id to Info: the family
// that claims the id, else Linux.
func fromOSInfo(oi guestagent.OSInfo) Info {
	info := Info{Family: Linux, ID: oi.ID, Source: SourceOSInfo}
	fam := families[Linux]
	if name, f, ok := familyOfID(oi.ID); ok {
		info.Family, fam = name, f
	}
	info.Name = firstKnown(oi.PrettyName, oi.Name)
	info.Version = firstKnown(oi.VersionID, oi.Version)
	if info.Version == "" && fam.osinfoVersion != nil {
		info.Version = fam.osinfoVersion(oi)
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

// isAgentError reports whether err is an error the agent itself returned
// (the command is unknown, disabled or failed), as opposed to a transport
// failure.
func isAgentError(err error) bool {
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

func exitText(st guestagent.ExecStatus) string {
	switch {
	case st.Signal != nil:
		return fmt.Sprintf("signal %d", *st.Signal)
	case st.ExitCode != nil:
		return fmt.Sprintf("exit code %d", *st.ExitCode)
	}
	return "no exit status"
}
