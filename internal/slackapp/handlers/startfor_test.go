package handlers_test

import (
	"strings"
	"testing"
)

// TestStartAndForRefused: /jit request parses --start and --for, but the
// service takes neither yet, so a request with them is refused rather than
// filed to start now, for the caller.
func TestStartAndForRefused(t *testing.T) {
	e := startSec(t, secOptions{socket: true})
	for _, text := range []string{
		"request readonly 30m --start +2h checking replica lag for INC-42",
		"request readonly 30m --for <@UBOB|bob> checking replica lag for INC-42",
	} {
		got := e.command(t, "UALICE", text)
		if !strings.Contains(got, "jitbot cannot yet start access later (--start) or ask for someone else (--for)") {
			t.Errorf("/jit %s answered %q; want it refused", text, got)
		}
	}
	if l, err := e.svc.List(t.Context(), "UALICE"); err != nil || len(l.Mine) != 0 {
		t.Errorf("requests filed: %+v, %v; want none", l, err)
	}
}
