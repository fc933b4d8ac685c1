package osdetect_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// FuzzFromOSInfo checks fromOSInfo on any guest-get-osinfo fields, also
// ones guestagent did not sanitise: Windows exactly for the id
// "mswindows" in any case; ID, Name and Version sanitised and at most
// maxInfoRunes runes; Name and Version taken from the documented fields.
func FuzzFromOSInfo(f *testing.F) {
	f.Add("debian", "Debian GNU/Linux", "Debian GNU/Linux 12 (bookworm)", "12 (bookworm)", "12", "6.1.0-13-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1")
	f.Add("mswindows", "Microsoft Windows", "Windows Server 2022 Datacenter", "Microsoft Windows Server 2022", "N/A", "20344", "10.0")
	f.Add("MSWindows", "", "N/A", "", "", "19045", "10.0")
	f.Add("\u202Edebian\n", "a\x00b", "\xff\xfe", "\u2028", "n/a", "", "")
	const n = 1 << 20
	for _, s := range []string{
		strings.Repeat("\n", n), strings.Repeat("\xff", n), strings.Repeat("{}", n/2),
		strings.Repeat("[", n), strings.Repeat("\u202E", n/3), strings.Repeat("a", n), strings.Repeat("é\u0301", n/4),
	} {
		f.Add(s, s, s, s, s, s, s)
		f.Add("mswindows", "", "", "", "", s, s)
	}
	f.Fuzz(func(t *testing.T, id, name, pretty, version, versionID, kernelRelease, kernelVersion string) {
		oi := guestagent.OSInfo{ID: id, Name: name, PrettyName: pretty, Version: version, VersionID: versionID,
			KernelRelease: kernelRelease, KernelVersion: kernelVersion}
		info := osdetect.FromOSInfo(oi)
		if want := strings.EqualFold(id, "mswindows"); (info.Family == osdetect.Windows) != want || info.Family != osdetect.Windows && info.Family != osdetect.Linux {
			t.Errorf("fromOSInfo(id %q) family %q", id, info.Family)
		}
		if info.Source != osdetect.SourceOSInfo {
			t.Errorf("fromOSInfo() source %q", info.Source)
		}
		for _, s := range []string{info.ID, info.Name, info.Version} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > osdetect.MaxInfoRunes || s != strings.TrimSpace(s) || strings.Contains(s, "  ") {
				t.Errorf("fromOSInfo() field %.80q: not sanitised or longer than %d runes", s, osdetect.MaxInfoRunes)
			}
			for _, r := range s {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) && r != ' ' {
					t.Errorf("fromOSInfo() field %.80q contains %U", s, r)
					break
				}
			}
		}
		if info.ID != guestagent.Sanitize(id, osdetect.MaxInfoRunes) {
			t.Errorf("fromOSInfo(id %.80q).ID = %.80q", id, info.ID)
		}
		if want := guestagent.Sanitize(osdetect.FirstKnown(pretty, name), osdetect.MaxInfoRunes); info.Name != want {
			t.Errorf("fromOSInfo().Name = %.80q, want %.80q", info.Name, want)
		}
		if info.Version != "" && osdetect.FirstKnown(versionID, version) == "" && (info.Family != osdetect.Windows || kernelVersion == "" || kernelRelease == "") {
			t.Errorf("fromOSInfo().Version = %.80q from nowhere", info.Version)
		}
	})
}
