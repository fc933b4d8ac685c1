package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Unmarshaler is a type that decodes itself from its YAML node, path
// being its key path for errors. An error it returns is reported with
// n's line and path, unless it is an *Error (or several, joined by
// Decode's own list) naming its line already.
type Unmarshaler interface {
	UnmarshalConfig(n *yaml.Node, path string) error
}

// Decode decodes the YAML document b: each top-level key into the field
// of engine (a pointer to a struct) whose yaml tag names it, or into the
// registered section that has it, stored in *sections. Unknown keys,
// values of the wrong kind and addresses that do not parse are errors,
// every one reported ("line 3: unknown key "policies[0].intervall" (did
// you mean "interval"?)"; several joined by "; "); nothing is validated
// beyond the kinds. The returned Doc locates later errors by key path.
// It panics when engine claims a key a section has.
func Decode(b []byte, engine any, sections *Values) (Doc, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return Doc{}, syntaxError(b, err)
	}
	doc := Doc{lines: map[string]int{}, set: map[string]bool{}}
	if len(root.Content) == 0 {
		return doc, nil
	}
	top := root.Content[0]
	doc.index(top, "")
	ev := reflect.ValueOf(engine).Elem()
	fields := fieldsOf(ev.Type())
	for k := range fields {
		if r := sectionOf(k); r != nil {
			panic(fmt.Sprintf("config: key %q is the engine's and section %q's", k, r.name))
		}
	}
	var d decoder
	if top.Kind != yaml.MappingNode {
		if !isNull(top) {
			d.kindError(top, "", ev.Type())
		}
		return doc, d.errs.err()
	}
	found := map[string]reflect.Value{}
	seen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := top.Content[i], top.Content[i+1]
		if d.duplicate(key, "", seen) {
			continue
		}
		if f, ok := fields[key.Value]; ok {
			d.value(val, key.Value, ev.FieldByIndex(f))
			continue
		}
		r := sectionOf(key.Value)
		if r == nil {
			d.unknown(key, "", append(keysOf(fields), allKeys()...))
			continue
		}
		sv, ok := found[r.name]
		if !ok {
			sv = reflect.New(r.typ).Elem()
			found[r.name] = sv
		}
		d.value(val, key.Value, sv.FieldByIndex(fieldsOf(r.typ)[key.Value]))
	}
	for name, sv := range found {
		*sections = sections.with(name, sv.Interface())
	}
	return doc, d.errs.err()
}

// syntaxError is the error of a document yaml.v3 cannot parse: a tab in
// the indentation named as such (YAML indents with spaces only), else the
// parser's own words without its "yaml: " prefix, on one line.
func syntaxError(b []byte, err error) error {
	for i, line := range bytes.Split(b, []byte("\n")) {
		indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			return &Error{Line: i + 1, Err: errors.New("indented with a tab; YAML indents with spaces only")}
		}
	}
	return errors.New(strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", "; "))
}

// maxValues bounds the values one Decode decodes: aliases of aliases
// could otherwise expand a small file into billions of values.
const maxValues = 100_000

// decoder collects the errors of one Decode.
type decoder struct {
	errs   errorList
	values int
}

var (
	addrType            = reflect.TypeFor[netip.Addr]()
	unmarshalerType     = reflect.TypeFor[Unmarshaler]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// value decodes n, at path, into v.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	if d.values++; d.values > maxValues {
		if d.values == maxValues+1 {
			d.errs.add(&Error{Line: n.Line, Path: path, Err: fmt.Errorf("more than %d values: are aliases (*name) expanding too much?", maxValues)})
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		anchor := *n.Alias
		anchor.Line = n.Line // an error of the value names the alias's line
		n = &anchor
	}
	if isNull(n) && !isAddr(v.Type()) {
		return // "key:" or "~": unset, as yaml.v3 leaves it
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(Unmarshaler).UnmarshalConfig(n, path); err != nil {
			d.hookError(n, path, err)
		}
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(yamlUnmarshalerType) {
		// Such a type (probe.Spec) names its line and its own keys: its
		// path comes last ("line 4: count: 50 is not between 1 and 20
		// (policies[0].probes[0])").
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.errs.add(&Error{Path: path, Err: err, pathLast: true})
		}
		return
	}
	switch t := v.Type(); {
	case t == addrType:
		d.addr(n, path, v)
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		if d.decodes(n, path, p.Elem()) {
			v.Set(p)
		}
	case t.Kind() == reflect.Struct:
		d.structure(n, path, v)
	case t.Kind() == reflect.Slice:
		d.list(n, path, v)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		d.mapping(n, path, v)
	default:
		d.scalar(n, path, v)
	}
}

// decodes decodes n into v and reports whether it did without an error.
func (d *decoder) decodes(n *yaml.Node, path string, v reflect.Value) bool {
	before := len(d.errs)
	d.value(n, path, v)
	return len(d.errs) == before
}

// hookError records the error of an Unmarshaler.
func (d *decoder) hookError(n *yaml.Node, path string, err error) {
	var e *Error
	var l errorList
	if errors.As(err, &e) || errors.As(err, &l) {
		d.errs.add(err)
		return
	}
	d.errs.add(&Error{Line: n.Line, Path: path, Err: err})
}

// kindError records that n is not of the kind v's type needs.
func (d *decoder) kindError(n *yaml.Node, path string, t reflect.Type) {
	d.errs.add(NotA(n, path, kindOf(t)))
}

// unknown records an unknown key of a mapping at path, with the valid key
// nearest to it.
func (d *decoder) unknown(key *yaml.Node, path string, valid []string) {
	msg := fmt.Sprintf("unknown key %q", Join(path, key.Value))
	if s := Nearest(key.Value, valid); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.errs.add(&Error{Line: key.Line, Err: errors.New(msg)})
}

// addr decodes an IP address.
func (d *decoder) addr(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.kindError(n, path, v.Type())
		return
	}
	a, err := netip.ParseAddr(n.Value)
	if err != nil {
		d.errs.add(&Error{Line: n.Line, Path: path, Err: fmt.Errorf("%q is not an IP address", n.Value)})
		return
	}
	v.Set(reflect.ValueOf(a))
}

// scalar decodes a string, boolean or number with yaml.v3's own rules for
// scalars, its errors in words.
func (d *decoder) scalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.kindError(n, path, v.Type())
		return
	}
	p := reflect.New(v.Type())
	if err := n.Decode(p.Interface()); err != nil {
		d.kindError(n, path, v.Type())
		return
	}
	v.Set(p.Elem())
}

// structure decodes a mapping into a struct by its fields' yaml tags.
func (d *decoder) structure(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.kindError(n, path, v.Type())
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if d.duplicate(key, path, seen) {
			continue
		}
		f, ok := fields[key.Value]
		if !ok {
			d.unknown(key, path, keysOf(fields))
			continue
		}
		d.value(val, Join(path, key.Value), v.FieldByIndex(f))
	}
}

// list decodes a sequence.
func (d *decoder) list(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.kindError(n, path, v.Type())
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	et := v.Type().Elem()
	for i, e := range n.Content {
		if isNull(e) && !isAddr(et) && !slices.Contains([]reflect.Kind{reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface}, et.Kind()) {
			continue // yaml.v3 drops a null item of a list of values
		}
		out = reflect.Append(out, reflect.Zero(et))
		d.value(e, fmt.Sprintf("%s[%d]", path, i), out.Index(out.Len()-1))
	}
	v.Set(out)
}

// mapping decodes a mapping with string keys, each key once.
func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.kindError(n, path, v.Type())
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if d.duplicate(key, path, seen) {
			continue
		}
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(val, Join(path, key.Value), e)
		out.SetMapIndex(reflect.ValueOf(key.Value).Convert(v.Type().Key()), e)
	}
	v.Set(out)
}

// duplicate records an error and reports true when key, a key of the
// mapping at path, was seen before (seen maps keys to their lines).
func (d *decoder) duplicate(key *yaml.Node, path string, seen map[string]int) bool {
	if l, dup := seen[key.Value]; dup {
		d.errs.add(&Error{Line: key.Line, Err: fmt.Errorf("%q is already set on line %d", Join(path, key.Value), l)})
		return true
	}
	seen[key.Value] = key.Line
	return false
}

// isAddr reports whether t is an IP address, or a pointer to one: a
// null is not an address, and says so.
func isAddr(t reflect.Type) bool {
	return t == addrType || t.Kind() == reflect.Pointer && t.Elem() == addrType
}

// isNull reports whether n is YAML's null ("key:" with no value, "~").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// nodeKind names what n is, in words.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a value"
}

// kindOf names what a Go type expects, in words.
func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return kindOf(t.Elem())
	case reflect.Slice:
		return "a list"
	case reflect.Map:
		return "a mapping of names to values"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text"
	case reflect.Struct:
		if t == addrType {
			return "an IP address"
		}
		return "a mapping of keys to values"
	}
	return "a value of the right kind"
}

// DecodeNode decodes n, whose key path is path, into dst (a pointer), as
// Decode does a top-level key: for an Unmarshaler that holds more than
// one value. Its errors name their lines and paths.
func DecodeNode(n *yaml.Node, path string, dst any) error {
	var d decoder
	d.value(n, path, reflect.ValueOf(dst).Elem())
	return d.errs.err()
}

// NotA is the error of a node that is not of the kind a value needs,
// want naming that kind in words ("a duration such as "30s""): "line 3:
// a list where a duration such as "30s" is expected (timeout)".
func NotA(n *yaml.Node, path, want string) error {
	err := fmt.Errorf("%s where %s is expected", nodeKind(n), want)
	if n.Kind == yaml.ScalarNode {
		err = fmt.Errorf("%q is not %s", n.Value, want)
	}
	return &Error{Line: n.Line, Path: path, Err: err, pathLast: true}
}

// List returns the errors that are not nil as one error, reported one
// after the other on one line; nil if there are none.
func List(errs ...error) error {
	var l errorList
	for _, err := range errs {
		if err != nil {
			l.add(err)
		}
	}
	return l.err()
}
