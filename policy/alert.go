package policy

import (
	"regexp"
	"slices"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/guestagent"
)

// Whom an alert policy tells about a failing domain (Alert.Notify).
const (
	// NotifyOperator tells the node's operator only: the default.
	NotifyOperator = "operator"
	// NotifyTenant tells the tenant who owns the VM only.
	NotifyTenant = "tenant"
	// NotifyBoth tells the tenant and the operator.
	NotifyBoth = "both"
	// NotifyNone tells nobody: the VM is still checked and shown.
	NotifyNone = "none"
)

// NotifyValues are the values of Alert.Notify, a closed set.
var NotifyValues = []string{NotifyOperator, NotifyTenant, NotifyBoth, NotifyNone}

// SeverityValues are the values of Alert.Severity, a closed set.
var SeverityValues = []string{"info", "warning", "critical"}

// DefaultSeverity is the severity of a policy that sets none.
const DefaultSeverity = "warning"

// maxAlertName is the longest receiver or tenant name a policy may set.
const maxAlertName = 63

// alertName is what a receiver or tenant name of a policy may be: a name
// Alertmanager routes match on and templates print as they are.
var alertName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// Alert is whom vmcheck's alerts about a domain go to, and how
// urgent they are: the config's policies[].alert and the domain's
// <vmcheck:alert> metadata, never anything the guest says. Exported as the
// labels of vmcheck_domain_alert_info, which the shipped Prometheus rules
// put on the domain's alerts and the shipped Alertmanager config routes
// on. An empty field is unset.
type Alert struct {
	// Notify is one of NotifyValues.
	Notify string `yaml:"notify" json:"notify"`
	// Severity is one of SeverityValues.
	Severity string `yaml:"severity" json:"severity"`
	// Receiver names the Alertmanager receiver of the tenant's
	// notifications, in place of the tenant's default route.
	Receiver string `yaml:"receiver" json:"receiver,omitempty"`
	// Tenant names the VM's owner when the platform does not (a Nova
	// project always wins over it).
	Tenant string `yaml:"tenant" json:"tenant,omitempty"`
}

// Over returns a laid over base: a's set fields win.
func (a Alert) Over(base Alert) Alert {
	out := base
	for _, f := range []struct{ src, dst *string }{
		{&a.Notify, &out.Notify}, {&a.Severity, &out.Severity}, {&a.Receiver, &out.Receiver}, {&a.Tenant, &out.Tenant},
	} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	return out
}

// Validate reports the first field of a that is not allowed, naming its
// key: notify and severity outside their closed sets, a receiver or tenant
// that is not a name of letters, digits, '.', '_' and '-' (at most 63,
// starting with a letter or digit).
func (a Alert) Validate() error {
	for _, f := range []struct {
		key, value string
		allowed    []string
	}{{"notify", a.Notify, NotifyValues}, {"severity", a.Severity, SeverityValues}} {
		if f.value != "" && !slices.Contains(f.allowed, f.value) {
			return config.Errorf(f.key, "%q is not one of %v", config.Shorten(f.value), f.allowed)
		}
	}
	for _, f := range []struct{ key, value string }{{"receiver", a.Receiver}, {"tenant", a.Tenant}} {
		if f.value != "" && !alertName.MatchString(f.value) {
			return config.Errorf(f.key, "%q is not a name of letters, digits, '.', '_' and '-' (at most %d, starting with a letter or digit)",
				config.Shorten(f.value), maxAlertName)
		}
	}
	return nil
}

// EffectiveAlert returns the alert policy in force for a domain whose
// platform names its owner project (the Nova project, "" for none): p's,
// with the defaults (notify operator, severity warning) for unset fields,
// and the tenant the platform names (project, sanitised) over the
// policy's.
func (p Policy) EffectiveAlert(project string) Alert {
	a := p.Alert.Over(Alert{Notify: NotifyOperator, Severity: DefaultSeverity})
	if t := guestagent.Sanitize(project, 64); t != "" {
		a.Tenant = t
	}
	return a
}
