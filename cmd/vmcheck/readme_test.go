package main

import (
	"encoding/xml"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"libvirt.org/go/libvirtxml"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/metrics"
	"github.com/vmcheck/vmcheck/osdetect"
)

// TestREADMEPingArgv keeps the README's Security section in step with the
// ping argv vmcheck really runs inside guests.
func TestREADMEPingArgv(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	tests := []struct {
		family osdetect.Family
		target string
		wait   string // the placeholder the README uses for the wait
	}{
		{osdetect.Linux, "192.0.2.1", "<s>"},
		{osdetect.Linux, "2001:db8::1", "<s>"},
		{osdetect.Windows, "192.0.2.1", "<ms>"},
		{osdetect.Windows, "2001:db8::1", "<ms>"},
	}
	for _, tt := range tests {
		addr := netip.MustParseAddr(tt.target)
		cmd, err := osdetect.PingCommand(tt.family, addr, 7*time.Second)
		if err != nil {
			t.Fatalf("PingCommand(%s, %s): %v", tt.family, addr, err)
		}
		argv := []string{cmd.Path}
		for _, a := range cmd.Args {
			switch a {
			case "7", "7000":
				a = tt.wait
			case addr.String():
				a = "ADDR"
			}
			argv = append(argv, a)
		}
		want := "`" + strings.Join(argv, " ") + "`"
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not show the %s ping argv %s", tt.family, want)
		}
	}
}

// readmeBlocks returns the fenced code blocks of README.md whose info
// string is lang ("" for a block without one), each without its fences.
func readmeBlocks(t *testing.T, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case !in && strings.HasPrefix(l, "```"):
			in = true
			cur = nil
			if strings.TrimSpace(strings.TrimPrefix(l, "```")) != lang {
				cur = []string{"\x00skip"}
			}
		case in && strings.TrimSpace(l) == "```":
			in = false
			if len(cur) == 0 || cur[0] != "\x00skip" {
				blocks = append(blocks, strings.Join(cur, "\n")+"\n")
			}
		case in:
			cur = append(cur, l)
		}
	}
	return blocks
}

// xmlFacts lists every element of an XML document by its path, and every
// attribute by its element's path, name and value.
func xmlFacts(t *testing.T, doc string) []string {
	t.Helper()
	var facts, path []string
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return facts
		}
		if err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path = append(path, tok.Name.Local)
			p := strings.Join(path, "/")
			facts = append(facts, p)
			for _, a := range tok.Attr {
				facts = append(facts, p+"@"+a.Name.Local+"="+a.Value)
			}
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
}

// agentChannelName reads the port name vmcheck looks for in a domain's
// channels from libvirthost's source (a pure-Go test cannot import the
// cgo package).
func agentChannelName(t *testing.T) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../libvirthost/domainxml/domainxml.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if len(v.Names) == 1 && v.Names[0].Name == "agentChannelName" && len(v.Values) == 1 {
				if lit, ok := v.Values[0].(*ast.BasicLit); ok {
					name, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					return name
				}
			}
		}
	}
	t.Fatal("libvirthost/domainxml/domainxml.go: no const agentChannelName")
	return ""
}

// TestREADMEAgentChannel keeps the README's libvirt <channel> snippet one
// that libvirt's schema, as libvirtxml reads it, accepts whole (no element
// or attribute it would drop), that names the port vmcheck looks for, and
// that is the one the lab defines its guests with.
func TestREADMEAgentChannel(t *testing.T) {
	var snippet string
	for _, b := range readmeBlocks(t, "xml") {
		if strings.Contains(b, "<channel") {
			if snippet != "" {
				t.Fatal("README.md shows more than one <channel> snippet")
			}
			snippet = b
		}
	}
	if snippet == "" {
		t.Fatal("README.md shows no ```xml block with the agent <channel>")
	}
	var ch libvirtxml.DomainChannel
	if err := ch.Unmarshal(snippet); err != nil {
		t.Fatalf("the README's <channel> does not parse: %v\n%s", err, snippet)
	}
	if ch.Source == nil || ch.Source.UNIX == nil {
		t.Errorf("the README's <channel> is not type='unix':\n%s", snippet)
	}
	if want := agentChannelName(t); ch.Target == nil || ch.Target.VirtIO == nil || ch.Target.VirtIO.Name != want {
		t.Errorf("the README's <channel> is not a virtio target named %s:\n%s", want, snippet)
	}
	again, err := ch.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	kept := xmlFacts(t, again)
	for _, f := range xmlFacts(t, snippet) {
		if !slices.Contains(kept, f) {
			t.Errorf("libvirtxml drops %s of the README's <channel> (not in libvirt's schema?); it reads it as\n%s", f, again)
		}
	}
	// Inside <devices>, as README says, it is the domain's one channel.
	var dom libvirtxml.Domain
	doc := "<domain type='kvm'><name>readme</name><memory>65536</memory><devices>" + snippet + "</devices></domain>"
	if err := dom.Unmarshal(doc); err != nil {
		t.Fatalf("a domain with the README's <channel>: %v", err)
	}
	if dom.Devices == nil || len(dom.Devices.Channels) != 1 || dom.Devices.Channels[0].Target.VirtIO == nil {
		t.Errorf("a domain with the README's <channel> has no virtio channel: %+v", dom.Devices)
	}
	// README says the lab's guests are defined with exactly these lines.
	lab, err := os.ReadFile("../../lab/lab.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(string(lab)), " "), strings.Join(strings.Fields(snippet), " ")) {
		t.Errorf("lab/lab.sh does not define its guests' agent channel with the README's snippet:\n%s", snippet)
	}
}

// TestREADMEMetricsSample keeps the README's /metrics sample valid
// Prometheus text format with only metrics vmcheck exports, each with the
// labels it really has.
func TestREADMEMetricsSample(t *testing.T) {
	ch := make(chan *prometheus.Desc, 64)
	metrics.NewCollector(history.New(3), "").Describe(ch)
	close(ch)
	descRE := regexp.MustCompile(`^Desc\{fqName: "([a-z_]+)", .*variableLabels: \{([^}]*)\}\}$`)
	labels := map[string][]string{} // metric → its label names, sorted
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read %s", d)
		}
		names := []string{}
		if m[2] != "" {
			names = strings.Split(m[2], ",")
		}
		slices.Sort(names)
		labels[m[1]] = names
	}
	sampleRE := regexp.MustCompile(`(?m)^vmcheck_[a-z_]+[{ ]`)
	var samples []string
	for _, b := range readmeBlocks(t, "") {
		if sampleRE.MatchString(b) {
			samples = append(samples, b)
		}
	}
	if len(samples) != 1 {
		t.Fatalf("README.md has %d /metrics samples (a plain ``` block of vmcheck_ lines), want 1", len(samples))
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(strings.NewReader(samples[0]))
	if err != nil {
		t.Fatalf("the README's /metrics sample is not Prometheus text format: %v", err)
	}
	if len(families) < 5 {
		t.Errorf("the README's /metrics sample has %d metrics; a representative sample has more", len(families))
	}
	for name, f := range families {
		want, ok := labels[name]
		if !ok {
			t.Errorf("the README's /metrics sample shows %s, which vmcheck does not export", name)
			continue
		}
		for _, m := range f.GetMetric() {
			got := []string{}
			for _, lp := range m.GetLabel() {
				got = append(got, lp.GetName())
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("the README's /metrics sample shows %s with labels %q; vmcheck exports it with %q", name, got, want)
			}
		}
	}
}
