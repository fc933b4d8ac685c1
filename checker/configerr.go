package checker

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vmcheck/vmcheck/guestagent"
)

// checkShape walks a YAML document against the config's shape and reports
// every key the config does not have, with its line and the nearest valid
// key ("line 3: unknown key "policies[0].intervall" (did you mean
// "interval"?)"), and every address that does not parse, with its line and
// key. Other values are left to the decoder. The errors are joined on one
// line.
func checkShape(b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 {
		return nil // the decoder reports syntax errors
	}
	var errs []string
	walkKeys(doc.Content[0], reflect.TypeFor[rawConfig](), "", &errs)
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}

var addrType = reflect.TypeFor[netip.Addr]()

// walkKeys checks the keys of n, a value of Go type t at path.
func walkKeys(n *yaml.Node, t reflect.Type, path string, errs *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == addrType && n.Kind == yaml.ScalarNode:
		if _, err := netip.ParseAddr(n.Value); err != nil {
			*errs = append(*errs, fmt.Sprintf("line %d: %s: %q is not an IP address", n.Line, path, n.Value))
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode && t.PkgPath() == reflect.TypeFor[rawConfig]().PkgPath():
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			ft, ok := fields[key.Value]
			if !ok {
				*errs = append(*errs, fmt.Sprintf("line %d: unknown key %q%s", key.Line, join(path, key.Value), suggest(key.Value, fields)))
				continue
			}
			walkKeys(val, ft, join(path, key.Value), errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			walkKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		if t.Key() == macKeyType {
			checkMACKeys(n, path, errs)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	}
}

var macKeyType = reflect.TypeFor[macKey]()

// checkMACKeys reports, with its line, each key of the mapping n that is
// not a MAC address or repeats one (in any spelling).
func checkMACKeys(n *yaml.Node, path string, errs *[]string) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i]
		m, ok := guestagent.NormalMAC(key.Value)
		switch {
		case !ok:
			*errs = append(*errs, fmt.Sprintf("line %d: %s: %q is not a MAC address such as 52:54:00:0c:00:11", key.Line, path, truncateKey(key.Value)))
		case seen[m] != 0:
			*errs = append(*errs, fmt.Sprintf("line %d: %s: %s is already listed on line %d", key.Line, path, m, seen[m]))
		default:
			seen[m] = key.Line
		}
	}
}

// truncateKey shortens a key quoted in an error.
func truncateKey(s string) string {
	if r := []rune(s); len(r) > 64 {
		return string(r[:64]) + "…"
	}
	return s
}

// yamlFields maps the YAML keys of struct type t to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest names the valid key nearest to key, when one is near enough to be
// a typo.
func suggest(key string, fields map[string]reflect.Type) string {
	best := nearest(key, fields)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// nearest is Nearest over the keys of fields.
func nearest(key string, fields map[string]reflect.Type) string {
	best, dist := "", len(key)/3+2
	for name := range fields {
		if d := editDistance(key, name); d < dist || d == dist && name < best {
			best, dist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short keys.
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

// yamlTypeError matches one error of a yaml.TypeError:
// "line 3: cannot unmarshal !!str `abc` into int", or without a value for
// a mapping or a list.
var yamlTypeError = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")

// yamlKinds names YAML's tags in words.
var yamlKinds = map[string]string{"map": "a mapping", "seq": "a list", "str": "text", "int": "a number",
	"float": "a number", "bool": "a boolean", "null": "nothing"}

// yamlLine finds the line a YAML syntax error names.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// plainYAMLError rewrites the decoder's errors for people, b being the
// document: no Go type names, the line first, on one line, and a tab that
// indents a line named as such.
func plainYAMLError(b []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", "; ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			if n, _ := strconv.Atoi(m[1]); tabIndented(b, n) {
				return fmt.Errorf("line %d: indented with a tab; YAML indents with spaces only", n)
			}
		}
		return errors.New(msg)
	}
	errs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := yamlTypeError.FindStringSubmatch(e)
		switch {
		case m == nil:
			errs = append(errs, e)
		case m[3] != "":
			errs = append(errs, fmt.Sprintf("line %s: %q is not %s", m[1], m[3], kindOf(m[4])))
		default:
			kind := yamlKinds[m[2]]
			if kind == "" {
				kind = "a value"
			}
			errs = append(errs, fmt.Sprintf("line %s: %s where %s is expected", m[1], kind, kindOf(m[4])))
		}
	}
	return errors.New(strings.Join(errs, "; "))
}

// kindOf names what a Go type expects, in words.
func kindOf(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping of names to values"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "text"
	case goType == "netip.Addr":
		return "an IP address"
	case strings.HasPrefix(goType, "checker."):
		return "a mapping of keys to values"
	}
	return "a value of the right kind"
}

// tabIndented reports whether line n (from 1) of b starts with a tab
// among its indentation.
func tabIndented(b []byte, n int) bool {
	lines := strings.Split(string(b), "\n")
	if n < 1 || n > len(lines) {
		return false
	}
	indent := lines[n-1][:len(lines[n-1])-len(strings.TrimLeft(lines[n-1], " \t"))]
	return strings.Contains(indent, "\t")
}

// withLine prefixes err, an invalid value of the document b named by its
// key ("timeout: must be positive"), with the line of that key: the
// longest key path of the document the message starts with. An error
// that already names its line, or whose key is not in the document, is
// returned as it is.
func withLine(b []byte, err error) error {
	msg := err.Error()
	if yamlLine.MatchString(msg) {
		return err
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return err
	}
	best, line := "", 0
	keyLines(doc.Content[0], "", func(path string, l int) {
		if len(path) > len(best) && strings.HasPrefix(msg, path) && len(msg) > len(path) && strings.ContainsRune(":.[", rune(msg[len(path)])) {
			best, line = path, l
		}
	})
	if line == 0 {
		return err
	}
	return fmt.Errorf("line %d: %w", line, err)
}

// keyLines calls f with the path of every key and list item under n (in
// the syntax of the config's errors: "policies[0].interval") and its line.
func keyLines(n *yaml.Node, path string, f func(path string, line int)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			f(p, n.Content[i].Line)
			keyLines(n.Content[i+1], p, f)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			f(p, e.Line)
			keyLines(e, p, f)
		}
	}
}

// Nearest returns the candidate nearest to word when one is near enough
// to be a typo of it (an edit distance under a third of its length, plus
// two), else "". Ties go to the first in sorted order.
func Nearest(word string, candidates []string) string {
	fields := make(map[string]reflect.Type, len(candidates))
	for _, c := range candidates {
		fields[c] = nil
	}
	return nearest(word, fields)
}
