package libvirthost

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/checker"
)

// MetadataNamespace is the XML namespace of vmcheck's per-domain policy in
// a libvirt domain's <metadata>. Set it with
//
//	virsh metadata DOMAIN --uri https://vmcheck.dev/xmlns/1 --key vmcheck \
//	  --set '<check enabled="true" interval="60s"><target>203.0.113.20</target></check>'
const MetadataNamespace = "https://vmcheck.dev/xmlns/1"

// novaNamespacePrefix starts every version of OpenStack Nova's libvirt
// metadata namespace (…/nova/1.0, 1.1, 1.2).
const novaNamespacePrefix = "http://openstack.org/xmlns/libvirt/nova/"

// xmlCheck is <vmcheck:check enabled=… interval=…><vmcheck:target>…</…>.
// Targets match in any namespace: `virsh metadata --set` puts only the root
// element in the vmcheck namespace, leaving <target> children in none.
type xmlCheck struct {
	Enabled  string   `xml:"enabled,attr"`
	Interval string   `xml:"interval,attr"`
	Targets  []string `xml:"target"`
}

// xmlNova is the part of <nova:instance> vmcheck reads.
type xmlNova struct {
	Name  string `xml:"name"`
	Owner struct {
		Project string `xml:"project"`
	} `xml:"owner"`
}

// ParseMetadata reads vmcheck's policy and Nova's instance facts from the
// inner XML of a domain's <metadata> element. Other namespaces are
// ignored. An invalid vmcheck element is not an error: the policy comes back
// empty with Policy.Error saying why, so that a typo in one domain's
// metadata never stops the others from being checked.
func ParseMetadata(inner string) (checker.Policy, checker.Nova) {
	var (
		pol    checker.Policy
		nova   checker.Nova
		seenVM bool
	)
	dec := xml.NewDecoder(strings.NewReader(inner))
	for {
		tok, err := dec.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				pol = checker.Policy{Error: fmt.Sprintf("metadata is not well-formed XML: %v", err)}
			}
			return pol, nova
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case se.Name.Space == MetadataNamespace && se.Name.Local == "check" && !seenVM:
			seenVM = true
			var x xmlCheck
			if err := dec.DecodeElement(&x, &se); err != nil {
				pol = checker.Policy{Error: fmt.Sprintf("vmcheck metadata: %v", err)}
				continue
			}
			p, err := x.policy()
			if err != nil {
				pol = checker.Policy{Error: fmt.Sprintf("vmcheck metadata ignored: %v", err)}
				continue
			}
			pol = p
		case strings.HasPrefix(se.Name.Space, novaNamespacePrefix) && se.Name.Local == "instance":
			var x xmlNova
			if err := dec.DecodeElement(&x, &se); err != nil {
				continue
			}
			nova = checker.Nova{Instance: strings.TrimSpace(x.Name), Project: strings.TrimSpace(x.Owner.Project)}
		default:
			if err := dec.Skip(); err != nil {
				return pol, nova
			}
		}
	}
}

func (x xmlCheck) policy() (checker.Policy, error) {
	var p checker.Policy
	if x.Enabled != "" {
		b, err := strconv.ParseBool(x.Enabled)
		if err != nil {
			return checker.Policy{}, fmt.Errorf("enabled: %q is not true or false", x.Enabled)
		}
		p.Enabled = &b
	}
	if x.Interval != "" {
		d, err := time.ParseDuration(x.Interval)
		if err != nil {
			return checker.Policy{}, fmt.Errorf("interval: %w", err)
		}
		p.Interval = d
	}
	for _, t := range x.Targets {
		a, err := netip.ParseAddr(strings.TrimSpace(t))
		if err != nil {
			return checker.Policy{}, fmt.Errorf("target %q: not an IP address", truncate(t, 64))
		}
		p.Targets = append(p.Targets, a)
	}
	if err := p.Validate(); err != nil {
		return checker.Policy{}, err
	}
	return p, nil
}

func truncate(s string, n int) string {
	b := []byte(s)
	if len(b) <= n {
		return s
	}
	return string(bytes.ToValidUTF8(b[:n], nil)) + "…"
}
