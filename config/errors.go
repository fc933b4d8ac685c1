// Package config decodes vmcheck's YAML config file into typed structs,
// one per section, straight from yaml.v3's node tree: every error names
// its line and key path, and an unknown key the nearest valid one.
//
// The engine's keys are the yaml-tagged fields of the struct it hands to
// Decode (settings.Config); a package outside the engine (a backend) adds
// top-level keys of its own with Register, and reads its decoded section
// back from the Values the engine's Config carries. The engine never
// names such a key.
package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one error of a config file: its line, the key path of the
// value ("policies[1].alert.receiver") and what is wrong. It reads "line
// 12: policies[1].alert.receiver: what is wrong"; an error about the
// YAML shape of a value (a list where a number is expected) names the
// path last, "line 3: a list where a whole number is expected
// (concurrency)", so its words stay first.
type Error struct {
	// Line is the line of the key or list item, from 1; 0 if unknown.
	Line int
	// Path is the key path of the value; "" when Err names it already.
	Path string
	// Err says what is wrong.
	Err error
	// pathLast puts Path after Err.
	pathLast bool
}

// Error implements error.
func (e *Error) Error() string {
	var parts []string
	if e.Line > 0 {
		parts = append(parts, fmt.Sprintf("line %d", e.Line))
	}
	switch {
	case e.Path != "" && e.pathLast:
		return strings.Join(append(parts, e.Err.Error()+" ("+e.Path+")"), ": ")
	case e.Path != "":
		parts = append(parts, e.Path)
	}
	return strings.Join(append(parts, e.Err.Error()), ": ")
}

// Unwrap returns what is wrong, without line and path.
func (e *Error) Unwrap() error { return e.Err }

// errorList is every error of one decode, in document order, on one line.
type errorList []error

// Error joins the errors with "; ".
func (l errorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors.
func (l errorList) Unwrap() []error { return l }

// add appends err to *l, flattening a list.
func (l *errorList) add(err error) {
	if list, ok := err.(errorList); ok {
		*l = append(*l, list...)
		return
	}
	*l = append(*l, err)
}

// err returns the list as an error, nil when empty.
func (l errorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}

// FieldError is an invalid value of the config, named by its key path as
// the config file writes it ("timeout", "external[1]",
// "policies[0].alert.notify"). Related names another key the value was
// judged against, if any ("timeout" for ping_timeout). A value may come
// from a flag: the CLI reports it under the flag that set its key, and
// Doc.Locate under the line of its key in the file.
type FieldError struct {
	// Key is the value's key path, as the config file writes it.
	Key string
	// Related is the key the value was judged against, or "".
	Related string
	// Err says what is wrong with the value.
	Err error
}

// Error implements error: "key: what is wrong".
func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the error without its key.
func (e *FieldError) Unwrap() error { return e.Err }

// Errorf is a FieldError for key with a formatted message (%w wraps).
func Errorf(key, format string, a ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, a...)}
}

// Under returns err, an error of a value inside key, with key prefixed to
// its path: a FieldError "alert.notify" under "policies[0]" becomes
// "policies[0].alert.notify". Any other error, which starts with its own
// key path ("probes[0].count: …"), reads "policies[0].probes[0].count: …"
// but has no key Doc.Locate can find.
func Under(key string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) && error(fe) == err {
		return &FieldError{Key: Join(key, fe.Key), Related: fe.Related, Err: fe.Err}
	}
	return fmt.Errorf("%s.%w", key, err)
}

// Join joins a key path and a key or list index: Join("a", "b") is
// "a.b", Join("a", "[0]") is "a[0]", Join("", "b") is "b".
func Join(path, key string) string {
	switch {
	case path == "":
		return key
	case strings.HasPrefix(key, "["):
		return path + key
	}
	return path + "." + key
}

// Shorten cuts a rejected value quoted in an error to 64 runes, "…"
// marking the cut.
func Shorten(s string) string {
	if r := []rune(s); len(r) > 64 {
		return string(r[:64]) + "…"
	}
	return s
}
