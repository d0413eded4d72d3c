package rules

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// mapping returns n as a mapping, or reports what it is instead.
func (l *loader) mapping(n ast.Node, what string) *ast.MappingNode {
	n = unwrap(n)
	switch m := n.(type) {
	case *ast.MappingNode:
		return m
	case *ast.MappingValueNode:
		return &ast.MappingNode{BaseNode: m.BaseNode, Values: []*ast.MappingValueNode{m}}
	case nil, *ast.NullNode:
		return nil
	}
	l.addf(n, "%s must be a mapping of keys to values", what)
	return nil
}

func (l *loader) str(kv *ast.MappingValueNode, role string) string {
	if s, ok := scalar(unwrap(kv.Value)); ok {
		return s
	}
	l.addf(kv.Value, "role %s: %s must be a string", role, keyOf(kv))
	return ""
}

// scalar is the text of a scalar node, "" for null; ok is false for a
// mapping, a list or any other node.
func scalar(n ast.Node) (text string, ok bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.NullNode:
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, true
	}
	return "", false
}

func (l *loader) strList(kv *ast.MappingValueNode, role string) []string {
	return l.list(kv, "role "+role)
}

// list reads a list of strings of who (a role, or the defaults).
func (l *loader) list(kv *ast.MappingValueNode, who string) []string {
	seq, ok := unwrap(kv.Value).(*ast.SequenceNode)
	if !ok {
		l.addf(kv.Value, "%s: %s must be a list, e.g. [U0123ABCD, \"@platform-leads\"]", who, keyOf(kv))
		return nil
	}
	var out []string
	for _, v := range seq.Values {
		s, ok := unwrap(v).(*ast.StringNode)
		if !ok {
			l.addf(v, "%s: every entry of %s must be a string", who, keyOf(kv))
			continue
		}
		out = append(out, s.Value)
	}
	return out
}

func (l *loader) integer(kv *ast.MappingValueNode, role string) int {
	if v, ok := unwrap(kv.Value).(*ast.IntegerNode); ok {
		if n, err := strconv.Atoi(v.GetToken().Value); err == nil {
			return n
		}
	}
	l.addf(kv.Value, "role %s: %s must be a whole number, got %q", role, keyOf(kv), strings.TrimSpace(kv.Value.String()))
	return 0
}

// boolean reads true or false.
func (l *loader) boolean(kv *ast.MappingValueNode, role string) bool {
	if v, ok := unwrap(kv.Value).(*ast.BoolNode); ok {
		return v.Value
	}
	l.addf(kv.Value, "role %s: %s must be true or false, got %q", role, keyOf(kv), strings.TrimSpace(kv.Value.String()))
	return false
}

// duration parses a duration value into d and reports whether it did.
func (l *loader) duration(kv *ast.MappingValueNode, d *time.Duration) bool {
	v, err := durationNode(unwrap(kv.Value))
	if err != nil {
		l.addf(kv.Value, "%s: %q is not a duration (use e.g. 90s, 15m, 1h30m, 1d): %v", keyOf(kv), strings.TrimSpace(kv.Value.String()), err)
		return false
	}
	*d = v
	return true
}

// durationNode reads a positive duration from a YAML scalar, for the
// catalog and the rule test files alike.
func durationNode(n ast.Node) (time.Duration, error) {
	d, err := ParseDuration(durationText(n))
	if err == nil && d <= 0 {
		err = errPositive
	}
	return d, err
}

var errPositive = errors.New("must be positive")

// durationText is the text of a scalar that may hold a duration: a
// string or a number; "" for any other node.
func durationText(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.IntegerNode, *ast.FloatNode:
		return v.GetToken().Value
	}
	return ""
}

func keyOf(kv *ast.MappingValueNode) string {
	if s, ok := kv.Key.(*ast.StringNode); ok {
		return s.Value
	}
	return kv.Key.String()
}

// unwrap sees through anchors and tags to the value they mark.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
}

func isNull(n ast.Node) bool {
	_, ok := unwrap(n).(*ast.NullNode)
	return ok || unwrap(n) == nil
}

func line(n ast.Node) int {
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 0
	}
	return n.GetToken().Position.Line
}
