package rules

import (
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// maxMerge bounds how deep merge keys and aliases are followed, and
// maxMerged how many mappings merge keys may pull in over the whole file,
// so that an anchor that refers to itself, or a few that fan out
// ({<<: [*a, *a, *a]} over and over), is a problem, not a hang.
const (
	maxMerge  = 16
	maxMerged = 10_000
)

// anchorCollector records every anchor in file order, so that an alias can
// be resolved to the last anchor of its name before it, as YAML says.
type anchorCollector struct{ l *testLoader }

func (a anchorCollector) Visit(n ast.Node) ast.Visitor {
	if an, ok := n.(*ast.AnchorNode); ok {
		a.l.anchors = append(a.l.anchors, an)
	}
	return a
}

// resolve sees through anchors, tags and aliases to the value they stand
// for; an alias whose anchor is unknown or refers to itself resolves to nil.
func (l *testLoader) resolve(n ast.Node) ast.Node {
	for range maxMerge {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			n = l.anchor(v)
			if n == nil {
				return nil
			}
		default:
			return n
		}
	}
	return nil
}

func (l *testLoader) anchor(alias *ast.AliasNode) ast.Node {
	name := strings.TrimSpace(alias.Value.String())
	var found ast.Node
	for _, a := range l.anchors {
		if strings.TrimSpace(a.Name.String()) == name && before(a, alias) {
			found = a.Value
		}
	}
	return found
}

// before reports whether a starts before b in the file.
func before(a, b ast.Node) bool {
	ta, tb := a.GetToken(), b.GetToken()
	if ta == nil || tb == nil || ta.Position == nil || tb.Position == nil {
		return false
	}
	pa, pb := ta.Position, tb.Position
	return pa.Line < pb.Line || pa.Line == pb.Line && pa.Column < pb.Column
}

// entries returns the keys and values of mapping n, with those of merge
// keys (<<) first so that the mapping's own keys override them; nil, after
// reporting a problem, when n is not a mapping. what names n in problems.
func (l *testLoader) entries(n ast.Node, what string, depth int) []*ast.MappingValueNode {
	if depth > maxMerge || l.merged > maxMerged {
		// Reported once; merge keys are not expanded any further.
		if !l.mergeFailed {
			l.addf(n, "%s: merge keys (<<) nest too deeply, refer to themselves or pull in too much", what)
		}
		l.mergeFailed = true
		return nil
	}
	var values []*ast.MappingValueNode
	switch m := l.resolve(n).(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	case nil:
		if alias, ok := unwrap(n).(*ast.AliasNode); ok {
			l.addf(n, "%s: alias %s names no anchor (&name) before it, or one that refers to itself", what, strings.TrimSpace(alias.String()))
		}
		return nil
	case *ast.NullNode:
		return nil
	default:
		l.addf(n, "%s must be a mapping of keys to values", what)
		return nil
	}
	var merged, own []*ast.MappingValueNode
	for _, kv := range values {
		if _, ok := kv.Key.(*ast.MergeKeyNode); !ok {
			own = append(own, kv)
			continue
		}
		sources := []ast.Node{kv.Value}
		if seq, ok := l.resolve(kv.Value).(*ast.SequenceNode); ok {
			sources = seq.Values
		}
		for _, src := range sources {
			if l.mergeFailed {
				break
			}
			l.merged++
			merged = append(merged, l.entries(src, what, depth+1)...)
		}
	}
	if merged == nil && own == nil {
		return []*ast.MappingValueNode{} // an empty mapping, not a missing one
	}
	return append(merged, own...)
}

func (l *testLoader) str(kv *ast.MappingValueNode, what string) string {
	if s, ok := scalar(l.resolve(kv.Value)); ok {
		return s
	}
	l.addf(kv.Value, "%s must be a string", what)
	return ""
}

func (l *testLoader) strList(kv *ast.MappingValueNode, what string) []string {
	n := l.resolve(kv.Value)
	if isNull(n) {
		return nil
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		l.addf(kv.Value, "%s must be a list, e.g. [sre, oncall]", what)
		return nil
	}
	var out []string
	for _, v := range seq.Values {
		s, ok := l.resolve(v).(*ast.StringNode)
		if !ok {
			l.addf(v, "%s: every entry must be a string", what)
			continue
		}
		out = append(out, s.Value)
	}
	return out
}

func (l *testLoader) boolean(kv *ast.MappingValueNode, what string) bool {
	if v, ok := l.resolve(kv.Value).(*ast.BoolNode); ok {
		return v.Value
	}
	l.addf(kv.Value, "%s must be true or false, got %q", what, strings.TrimSpace(kv.Value.String()))
	return false
}

func (l *testLoader) duration(kv *ast.MappingValueNode, what string, d *time.Duration) {
	v, err := durationNode(l.resolve(kv.Value))
	if err != nil {
		l.addf(kv.Value, "%s: %q is not a duration (use e.g. 90s, 15m, 1h30m, 1d): %v", what, strings.TrimSpace(kv.Value.String()), err)
		return
	}
	*d = v
}

func (l *testLoader) timestamp(kv *ast.MappingValueNode, what string, t *time.Time) {
	raw := ""
	if v, ok := l.resolve(kv.Value).(*ast.StringNode); ok {
		raw = v.Value
	}
	v, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		l.addf(kv.Value, "%s: %q is not a time: use RFC 3339, e.g. 2026-11-23T10:00:00Z", what, strings.TrimSpace(kv.Value.String()))
		return
	}
	*t = v
}
