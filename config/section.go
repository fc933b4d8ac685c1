package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// Section is a part of the config file that a package outside the engine
// owns: top-level keys decoded into one struct of type T, whose
// yaml-tagged fields are the keys (`yaml:"connect"`). Fields may be
// strings, booleans, numbers, netip.Addr, pointers, lists, maps with
// string keys, nested structs, or types that decode themselves
// (Unmarshaler). Register declares one; Of reads it back from a Config's
// Values.
type Section[T any] struct {
	name     string
	keys     []string
	validate func(T, Values) error
	defaults func(T) T
}

// SectionOptions are what a section adds to decoding its struct.
type SectionOptions[T any] struct {
	// Validate reports the first invalid value of the section, once the
	// file and the flags are applied, as a *FieldError whose Key is the
	// key path (so the CLI can name the flag that set it, and the file
	// its line). all holds every section, for a rule across sections.
	// It is called with the zero T when the file sets none of the keys.
	Validate func(v T, all Values) error
	// Defaults returns v with its unset fields filled in
	// (Config.WithDefaults); nil leaves v as it is.
	Defaults func(v T) T
}

// registered is every section, by name.
var registered = map[string]*registration{}

// registration is a section without its type parameter.
type registration struct {
	name     string
	typ      reflect.Type
	keys     []string
	validate func(any, Values) error
	defaults func(any) any
}

// Register declares the section name, whose keys are the yaml-tagged
// fields of T. Call it from a package-level var (or init) of the package
// that owns the keys:
//
//	var Section = config.Register("libvirt", config.SectionOptions[Settings]{Validate: Settings.validate})
//
// It panics when T is not a struct, or when the name or a key is
// registered already: two packages would claim one key.
func Register[T any](name string, opts SectionOptions[T]) *Section[T] {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("config.Register(%q): %s is not a struct", name, t))
	}
	keys := slices.Sorted(maps.Keys(fieldsOf(t)))
	if _, dup := registered[name]; dup {
		panic(fmt.Sprintf("config.Register(%q): section registered twice", name))
	}
	for _, r := range registered {
		for _, k := range keys {
			if slices.Contains(r.keys, k) {
				panic(fmt.Sprintf("config.Register(%q): key %q is section %q's", name, k, r.name))
			}
		}
	}
	reg := &registration{name: name, typ: t, keys: keys}
	if opts.Validate != nil {
		reg.validate = func(v any, all Values) error { return opts.Validate(v.(T), all) }
	}
	if opts.Defaults != nil {
		reg.defaults = func(v any) any { return opts.Defaults(v.(T)) }
	}
	registered[name] = reg
	return &Section[T]{name: name, keys: keys, validate: opts.Validate, defaults: opts.Defaults}
}

// Name returns the section's name.
func (s *Section[T]) Name() string { return s.name }

// Keys returns the section's top-level keys, sorted.
func (s *Section[T]) Keys() []string { return slices.Clone(s.keys) }

// Of returns the section as decoded and laid over by flags; the zero T
// when neither set any of its keys (after Values.WithDefaults: the
// defaults).
func (s *Section[T]) Of(v Values) T {
	t, _ := v.m[s.name].(T)
	return t
}

// Set returns v with the section set to t: how a flag sets a section's
// field (t := s.Of(cfg.Sections); t.Field = …; cfg.Sections = s.Set(cfg.Sections, t)).
// v itself is not changed: Values are shared by copies of a Config.
func (s *Section[T]) Set(v Values, t T) Values {
	return v.with(s.name, t)
}

// Values holds the decoded sections of one config, by section. The zero
// Values holds none: each section reads as its zero value. Values is
// never changed in place, so copies of a Config may share it.
type Values struct {
	m map[string]any
}

// with returns v with section name set to x.
func (v Values) with(name string, x any) Values {
	m := maps.Clone(v.m)
	if m == nil {
		m = map[string]any{}
	}
	m[name] = x
	return Values{m: m}
}

// Validate runs every registered section's Validate, in name order, and
// returns the first error.
func (v Values) Validate() error {
	var err error
	v.each(func(r *registration, x any) {
		if err == nil && r.validate != nil {
			err = r.validate(x, v)
		}
	})
	return err
}

// WithDefaults returns v with every registered section's Defaults applied.
func (v Values) WithDefaults() Values {
	out := v
	v.each(func(r *registration, x any) {
		if r.defaults != nil {
			out = out.with(r.name, r.defaults(x))
		}
	})
	return out
}

// each calls f with every registered section, in name order, and its
// value in v (the zero value when v has none).
func (v Values) each(f func(r *registration, x any)) {
	for _, name := range slices.Sorted(maps.Keys(registered)) {
		r := registered[name]
		x, ok := v.m[name]
		if !ok {
			x = reflect.Zero(r.typ).Interface()
		}
		f(r, x)
	}
}

// Info describes a registered section for its docs: the shipped config
// file shows each key, docs/*.md name each key path (tests check both).
type Info struct {
	// Name is the section's name.
	Name string
	// Keys are its top-level keys, sorted.
	Keys []string
	// Paths are its key paths as the docs write them (Paths).
	Paths []string
}

// Sections describes every registered section, in name order.
func Sections() []Info {
	var out []Info
	for _, name := range slices.Sorted(maps.Keys(registered)) {
		r := registered[name]
		out = append(out, Info{Name: name, Keys: slices.Clone(r.keys), Paths: paths(r.typ, "")})
	}
	return out
}

// sectionOf returns the registered section that has key, or nil.
func sectionOf(key string) *registration {
	for _, r := range registered {
		if slices.Contains(r.keys, key) {
			return r
		}
	}
	return nil
}

// allKeys returns the keys of every registered section.
func allKeys() []string {
	var keys []string
	for _, r := range registered {
		keys = append(keys, r.keys...)
	}
	return keys
}
