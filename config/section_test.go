package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// testVM and testSettings are a backend's section, as a package outside
// the engine declares it.
type testVM struct {
	ID   string `yaml:"id"`
	Addr netip.Addr
	Sock string `yaml:"sock"`
}

type testSettings struct {
	URI string   `yaml:"test_uri"`
	VMs []testVM `yaml:"test_vms"`
	Dir string   `yaml:"test_dir"`
}

var testSection = Register("test", SectionOptions[testSettings]{
	Validate: func(s testSettings, all Values) error {
		for i, vm := range s.VMs {
			if vm.ID == "" {
				return Errorf(fmt.Sprintf("test_vms[%d].id", i), "missing")
			}
		}
		return nil
	},
	Defaults: func(s testSettings) testSettings {
		if s.Dir == "" {
			s.Dir = "/run/test"
		}
		return s
	},
})

// testEngine is the engine's struct: its own keys.
type testEngine struct {
	Timeout string   `yaml:"timeout"`
	Count   int      `yaml:"count"`
	Names   []string `yaml:"names"`
	Hidden  string   `yaml:"-"`
}

// decodeAndValidate is what the engine's ParseConfig does.
func decodeAndValidate(y string) (testEngine, Values, error) {
	var e testEngine
	var v Values
	doc, err := Decode([]byte(y), &e, &v)
	if err != nil {
		return e, v, err
	}
	if err := v.Validate(); err != nil {
		return e, v, doc.Locate(err)
	}
	return e, v, nil
}

func TestSectionDecode(t *testing.T) {
	e, v, err := decodeAndValidate("timeout: 5s\ntest_uri: x:///y\ntest_vms:\n  - {id: a, sock: /a}\ncount: 3\n")
	if err != nil {
		t.Fatal(err)
	}
	if e.Timeout != "5s" || e.Count != 3 {
		t.Errorf("engine = %+v", e)
	}
	s := testSection.Of(v)
	if want := (testSettings{URI: "x:///y", VMs: []testVM{{ID: "a", Sock: "/a"}}}); !reflect.DeepEqual(s, want) {
		t.Errorf("section = %+v, want %+v", s, want)
	}
	if d := testSection.Of(v.WithDefaults()); d.Dir != "/run/test" || d.URI != "x:///y" {
		t.Errorf("with defaults = %+v", d)
	}
	// A flag sets a field: Set returns new Values, the old stay as they were.
	s.URI = "flag:///"
	w := testSection.Set(v, s)
	if testSection.Of(w).URI != "flag:///" || testSection.Of(v).URI != "x:///y" {
		t.Errorf("Set: new %q, old %q", testSection.Of(w).URI, testSection.Of(v).URI)
	}
	// No key of the section: nothing stored, the zero value read.
	_, v, err = decodeAndValidate("count: 1")
	if err != nil || !reflect.DeepEqual(v, Values{}) || !reflect.DeepEqual(testSection.Of(v), testSettings{}) {
		t.Errorf("no section keys: %+v, %v", v, err)
	}
	if !slices.Equal(testSection.Keys(), []string{"test_dir", "test_uri", "test_vms"}) || testSection.Name() != "test" {
		t.Errorf("Keys = %v, Name = %q", testSection.Keys(), testSection.Name())
	}
	if i := slices.IndexFunc(Sections(), func(i Info) bool { return i.Name == "test" }); i < 0 || !slices.Contains(Sections()[i].Paths, "test_vms[].sock") {
		t.Errorf("Sections() = %+v, want test with test_vms[].sock", Sections())
	}
}

func TestSectionErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key, nearest over engine and sections", "test_url: x", `line 1: unknown key "test_url" (did you mean "test_uri"?)`},
		{"unknown nested key", "test_vms:\n  - id: a\n    sok: /a", `line 3: unknown key "test_vms[0].sok" (did you mean "sock"?)`},
		{"kind, path last", "count: [1]", "line 1: a list where a whole number is expected (count)"},
		{"scalar kind", "test_vms:\n  - id: a\n  - x", `line 3: "x" is not a mapping of keys to values (test_vms[1])`},
		{"validation with its line", "count: 1\ntest_vms:\n  - sock: /a", "line 3: test_vms[0].id: missing"},
		{"several at once", "cont: 1\nnames: {a: b}", `line 1: unknown key "cont" (did you mean "count"?); line 2: a mapping where a list is expected (names)`},
		{"tab", "names:\n\t- a", "line 2: indented with a tab; YAML indents with spaces only"},
		{"syntax", "names: [a", "line 1: did not find expected ',' or ']'"},
		{"hidden field is no key", "Hidden: x", `line 1: unknown key "Hidden"`},
		{"a key twice", "count: 1\ncount: 2", `line 2: "count" is already set on line 1`},
		{"a nested key twice", "test_vms:\n  - {id: a, id: b}", `line 2: "test_vms[0].id" is already set on line 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeAndValidate(tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("decode(%q) = %v, want one line containing %q", tt.yaml, err, tt.want)
			}
		})
	}
	var e *Error
	var fe *FieldError
	_, _, err := decodeAndValidate("test_vms:\n  - sock: /a")
	if !errors.As(err, &e) || e.Line != 2 || !errors.As(err, &fe) || fe.Key != "test_vms[0].id" {
		t.Errorf("error %#v: want an *Error on line 2 wrapping the FieldError of test_vms[0].id", err)
	}
}

// TestDecodeNullAndAlias: "key:" and "~" leave a value unset, as
// yaml.v3 does; an alias decodes as its anchor.
func TestDecodeNullAndAlias(t *testing.T) {
	var e testEngine
	v := Values{}
	doc, err := Decode([]byte("count:\nnames: &n [a, b]\ntest_vms: ~\ntest_uri: *n\n"), &e, &v)
	if err == nil || !strings.Contains(err.Error(), `line 4: a list where text is expected (test_uri)`) {
		t.Errorf("alias of a list into text: %v", err)
	}
	if e.Count != 0 || !slices.Equal(e.Names, []string{"a", "b"}) || doc.Has("count") || !doc.Has("names") || doc.Line("count") != 1 {
		t.Errorf("engine %+v, Has(count) %v, Has(names) %v, Line(count) %d", e, doc.Has("count"), doc.Has("names"), doc.Line("count"))
	}
	if doc.Line("names[1]") != 2 || doc.Line("names[7]") != 2 || doc.Line("nothing") != 0 {
		t.Errorf("Line: names[1] %d, names[7] %d, nothing %d", doc.Line("names[1]"), doc.Line("names[7]"), doc.Line("nothing"))
	}
}

// bomb is a list of lists of lists…
type bomb []bomb

// TestDecodeAliasBomb: aliases of aliases stop at maxValues, quickly.
func TestDecodeAliasBomb(t *testing.T) {
	y := "names:\n  - &a0 [[], [], [], [], [], [], [], [], [], []]\n"
	for i := 1; i < 9; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		y += fmt.Sprintf("  - &a%d [%s]\n", i, strings.TrimSuffix(strings.Repeat(p+", ", 10), ", "))
	}
	var e struct {
		Names bomb `yaml:"names"`
	}
	_, err := Decode([]byte(y), &e, &Values{})
	if err == nil || !strings.Contains(err.Error(), "more than 100000 values") || len(err.Error()) > 200 {
		t.Errorf("alias bomb: %.300v", err)
	}
}

func TestRegisterConflicts(t *testing.T) {
	for name, f := range map[string]func(){
		"a key twice": func() {
			Register("test2", SectionOptions[struct {
				URI string `yaml:"test_uri"`
			}]{})
		},
		"a name twice": func() {
			Register("test", SectionOptions[struct {
				X string `yaml:"x_other"`
			}]{})
		},
		"not a struct": func() { Register("test3", SectionOptions[string]{}) },
		"engine key": func() {
			var e struct {
				URI string `yaml:"test_uri"`
			}
			_, _ = Decode([]byte("a: 1"), &e, &Values{})
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestUnder(t *testing.T) {
	err := Under("policies[0]", Under("alert", Errorf("notify", "%q is bad", "x")))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "policies[0].alert.notify" || err.Error() != `policies[0].alert.notify: "x" is bad` {
		t.Errorf("Under = %v", err)
	}
	if got := Under("policies[0]", errors.New("probes[1].count: bad")).Error(); got != "policies[0].probes[1].count: bad" {
		t.Errorf("Under(plain) = %q", got)
	}
	if Under("a", nil) != nil {
		t.Error("Under(nil) != nil")
	}
}
