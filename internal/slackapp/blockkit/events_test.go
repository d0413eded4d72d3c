package blockkit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/grants"
)

// allEventTypes are the EventType constants declared in package grants,
// read from its source, so that a constant added there is covered here
// without anyone remembering to list it.
var allEventTypes = declaredEventTypes("../../grants")

func declaredEventTypes(dir string) []grants.EventType {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		panic(err)
	}
	var out []grants.EventType
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			panic(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			panic(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "EventType" {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						panic("EventType constant with a value that is not a string literal: extend declaredEventTypes")
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						panic(err)
					}
					out = append(out, grants.EventType(s))
				}
			}
		}
	}
	if len(out) == 0 {
		panic("no EventType constants found in " + dir)
	}
	return out
}

// Every event type the domain declares has its own audit wording.
func TestAuditEventCoversEveryType(t *testing.T) {
	known := []grants.EventType{
		grants.EventRequested, grants.EventApproved, grants.EventDenied, grants.EventCancelled,
		grants.EventAutoApproved, grants.EventGranted, grants.EventGrantFailed, grants.EventRevoked,
		grants.EventRevokeFailed, grants.EventTimedOut, grants.EventExpiring, grants.EventRefused,
	}
	if len(allEventTypes) < len(known) {
		t.Fatalf("read %d EventType constants from package grants, fewer than the %d known: %v", len(allEventTypes), len(known), allEventTypes)
	}
	for _, typ := range allEventTypes {
		t.Run(string(typ), func(t *testing.T) {
			e := grants.Event{Type: typ, At: now, Request: *activeSTS(), Actor: bob, Err: "boom"}
			if _, ok := eventLine(e); !ok {
				t.Fatalf("grants.EventType %q has no audit wording: add a case to eventLine", typ)
			}
			got := AuditEvent(e)
			if got == "" || strings.Contains(got, "no wording") {
				t.Errorf("AuditEvent(%s) = %q", typ, got)
			}
			for _, p := range mrkdwnProblems(got) {
				t.Errorf("%s in %q", p, got)
			}
		})
	}
	// An unknown type still yields an explicit line rather than nothing.
	got := AuditEvent(grants.Event{Type: "no_such_event", Request: *activeGroup()})
	if !strings.Contains(got, "`no_such_event`") {
		t.Errorf("unknown event: %q", got)
	}
}

// Break-glass is loud in the audit thread: every reply of an auto-approved
// request carries the marker, and so does its parent.
func TestBreakGlassIsLoud(t *testing.T) {
	r := breakGlassActive()
	for _, typ := range allEventTypes {
		if got := AuditEvent(grants.Event{Type: typ, Request: *r}); !strings.Contains(got, ":rotating_light: *BREAK-GLASS*") {
			t.Errorf("%s reply lacks the break-glass marker: %q", typ, got)
		}
	}
	text, blocks := AuditParent(r)
	if !strings.HasPrefix(text, ":rotating_light: *BREAK-GLASS*") {
		t.Errorf("parent text: %q", text)
	}
	if got := allText(t, blocks); !strings.Contains(got, ":rotating_light: *BREAK-GLASS*") {
		t.Errorf("parent blocks lack the marker")
	}
	if text, _ := AuditParent(activeGroup()); strings.Contains(text, "BREAK-GLASS") {
		t.Errorf("an approved grant is marked break-glass: %q", text)
	}
	if got := AuditEvent(grants.Event{Type: grants.EventRevokeFailed, Request: *revokingStuck(), Err: "503"}); !strings.HasPrefix(got, ":warning:") {
		t.Errorf("revoke_failed is not an alert: %q", got)
	}
}
