package checker

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/settings"
)

// deadlineSource records the deadline of the context Domains gets.
type deadlineSource struct {
	deadline time.Time
	ok       bool
}

func (s *deadlineSource) Domains(ctx context.Context) ([]model.Domain, error) {
	s.deadline, s.ok = ctx.Deadline()
	return []model.Domain{{Name: "a", UUID: "u1"}}, nil
}

// TestSelectListDeadline checks that listing runs under ListTimeout even
// when the caller's context has no deadline (vmcheck check and cron).
func TestSelectListDeadline(t *testing.T) {
	for _, timeout := range []time.Duration{0, 5 * time.Second, 90 * time.Second} {
		c := New(settings.Config{Timeout: config.Duration(timeout)})
		src := &deadlineSource{}
		before := time.Now()
		if _, err := c.Select(context.Background(), src); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		lt := c.Config().ListTimeout()
		if !src.ok {
			t.Fatalf("timeout %s: Domains got a context without a deadline", timeout)
		}
		if src.deadline.Before(before.Add(lt)) || src.deadline.After(after.Add(lt)) {
			t.Errorf("timeout %s: listing deadline %s after the call, want %s", timeout, src.deadline.Sub(before), lt)
		}
	}
}

// hungSource is a libvirtd or QMP socket that never answers: Domains
// returns only when its context ends.
type hungSource struct{}

func (hungSource) Domains(ctx context.Context) ([]model.Domain, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestSelectHungSource(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(settings.Config{}).Select(ctx, hungSource{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Select on a hung source = %v, want an error wrapping context.Canceled", err)
	}
}

func TestSelectOptIn(t *testing.T) {
	yes, no := true, false
	src := listSource{
		{Name: "consented", UUID: "u1", Policy: policy.Policy{Enabled: &yes}},
		{Name: "silent", UUID: "u2"},
		{Name: "refused", UUID: "u3", Policy: policy.Policy{Enabled: &no}},
		{Name: "interval-only", UUID: "u4", Policy: policy.Policy{Interval: time.Minute}},
		{Name: "excluded", UUID: "u5", Policy: policy.Policy{Enabled: &yes}},
		{Name: "web-1", UUID: "u6"},
	}
	base := settings.Config{Exclude: []string{"excluded"}, Policies: []policy.Rule{{Match: "web-*", Enabled: &yes}}}
	tests := []struct {
		name         string
		optIn        bool
		qemu         bool
		want, wantSk []string
	}{
		{"off: everything not disabled or excluded", false, false,
			[]string{"consented", "silent", "interval-only", "web-1"}, nil},
		{"libvirt: metadata consent only", true, false,
			[]string{"consented"}, []string{"silent", "interval-only", "web-1"}},
		{"qemu: config rules consent", true, true,
			[]string{"consented", "web-1"}, []string{"silent", "interval-only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.OptIn = tt.optIn
			if tt.qemu {
				setOption(t, &cfg, "qemu_dir", "/run/qemu-server")
			}
			c := New(cfg)
			sel, sk, err := c.SelectWithSkipped(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			if got := domainNames(sel); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("selected = %v, want %v", got, tt.want)
			}
			if got := domainNames(sk); !reflect.DeepEqual(got, tt.wantSk) {
				t.Errorf("skipped = %v, want %v", got, tt.wantSk)
			}
			sel2, err := c.Select(context.Background(), src)
			if err != nil || !reflect.DeepEqual(domainNames(sel2), tt.want) {
				t.Errorf("Select = %v, %v; want %v", domainNames(sel2), err, tt.want)
			}
		})
	}
}

func domainNames(doms []model.Domain) []string {
	var out []string
	for _, d := range doms {
		out = append(out, d.Name)
	}
	return out
}

// TestSelectNamedMissing: a --domain that names no running or paused
// domain is an error naming it (issue 20: `vmcheck check --domain
// no-such-vm` printed an empty table and exited 0); a UUID names its
// domain too, and an excluded domain that exists is no error.
func TestSelectNamedMissing(t *testing.T) {
	src := &deadlineSource{} // lists one domain: "a", UUID "u1"
	tests := []struct {
		name    string
		cfg     settings.Config
		missing []string
		n       int
	}{
		{"by name", settings.Config{Domains: []string{"a"}}, nil, 1},
		{"by UUID", settings.Config{Domains: []string{"u1"}}, nil, 1},
		{"missing", settings.Config{Domains: []string{"a", "no-such-vm"}}, []string{"no-such-vm"}, 0},
		{"excluded is no error", settings.Config{Domains: []string{"a"}, Exclude: []string{"a"}}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doms, _, err := New(tt.cfg).SelectNamed(context.Background(), src)
			var nf *NotFoundError
			switch {
			case tt.missing != nil && (!errors.As(err, &nf) || !reflect.DeepEqual(nf.Names, tt.missing)):
				t.Fatalf("SelectNamed = %v, want a NotFoundError naming %q", err, tt.missing)
			case tt.missing == nil && err != nil:
				t.Fatalf("SelectNamed: %v", err)
			case len(doms) != tt.n:
				t.Errorf("SelectNamed selected %d domains, want %d", len(doms), tt.n)
			}
		})
	}
}

// setOption sets the option key of the registered backend that has it, as
// its flag does (backend_test.go links the backends into these tests).
func setOption(t *testing.T, cfg *settings.Config, key, value string) {
	t.Helper()
	for _, b := range settings.Backends() {
		for _, o := range b.Options() {
			if o.Key == key {
				if err := o.Set(cfg, value); err != nil {
					t.Fatalf("option %s %q: %v", key, value, err)
				}
				return
			}
		}
	}
	t.Fatalf("no registered backend has the option %s", key)
}
