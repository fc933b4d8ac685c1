package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldsOf maps the yaml keys of struct type t to their fields' indexes.
func fieldsOf(t reflect.Type) map[string][]int {
	fields := map[string][]int{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			fields[name] = f.Index
		}
	}
	return fields
}

// keysOf returns the keys of fields, sorted.
func keysOf(fields map[string][]int) []string {
	return slices.Sorted(maps.Keys(fields))
}

// Paths returns the key paths of struct type t the way the docs write
// them: "timeout", "networks.<name>.type", "policies[].match". It
// descends into lists and maps of structs with yaml-tagged fields; other
// types (netip.Addr, a type that decodes itself) are values.
func Paths(t reflect.Type) []string { return paths(t, "") }

func paths(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		keys = append(keys, key)
		ft := f.Type
		switch ft.Kind() {
		case reflect.Slice:
			ft, key = ft.Elem(), key+"[]."
		case reflect.Map:
			ft, key = ft.Elem(), key+".<name>."
		default:
			ft, key = nil, ""
		}
		if ft != nil && ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft != nil && ft.Kind() == reflect.Struct && len(fieldsOf(ft)) > 0 {
			keys = append(keys, paths(ft, key)...)
		}
	}
	return keys
}

// Doc locates key paths in a decoded document.
type Doc struct {
	lines map[string]int  // the line of each key path
	set   map[string]bool // the key paths with a value
}

// index records the line of every key and list item under n.
func (d Doc) index(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := Join(path, n.Content[i].Value)
			if _, dup := d.lines[p]; !dup {
				d.lines[p] = n.Content[i].Line
				d.set[p] = !isNull(n.Content[i+1])
			}
			d.index(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p], d.set[p] = e.Line, !isNull(e)
			d.index(e, p)
		}
	}
}

// Has reports whether the document writes the key path with a value
// ("key:" alone, or "key: ~", is no value).
func (d Doc) Has(path string) bool {
	return d.set[path]
}

// Line returns the line of the key path, or of the nearest key above it
// the document writes ("nics" for "nics.52:54:00:0c:00:11" spelt
// otherwise); 0 when the document writes none of them.
func (d Doc) Line(path string) int {
	for p := path; p != ""; p = parent(p) {
		if l, ok := d.lines[p]; ok {
			return l
		}
	}
	return 0
}

// parent drops the last key or index of a path: "a.b[0]" → "a.b" → "a".
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i > 0 {
		return path[:i]
	}
	return ""
}

// Locate returns err, an invalid value of the decoded config, with the
// line of its key: a *FieldError ("timeout: must be positive") becomes
// "line 3: timeout: must be positive". An error without a key, or whose
// key the document does not write (a flag set it), is returned as is.
func (d Doc) Locate(err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if l := d.Line(fe.Key); l > 0 {
		return &Error{Line: l, Err: err}
	}
	return err
}

// Nearest returns the candidate nearest to word when one is near enough
// to be a typo of it (an edit distance under a third of its length, plus
// two), else "". Ties go to the first in sorted order.
func Nearest(word string, candidates []string) string {
	best, dist := "", len(word)/3+2
	for _, c := range candidates {
		if d := editDistance(word, c); d < dist || d == dist && c < best {
			best, dist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short words.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
