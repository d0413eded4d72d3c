package accessmap

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/internal/rules"
)

// WriteText writes m for people and for diff: the catalog's hash, then for
// each role one header line followed by one line per approver, requester,
// auto-approved requester and error, each list sorted. The time of the
// run is left out, so two runs over the same workspace and catalog are
// byte for byte the same and a diff shows only who gained or lost what:
//
//	catalog sha256 9f2c…
//	role prod-admin: aws_iam_group jit-prod-admin, approvals_required 2
//	  approve: alice <alice@example.com> (U0ALICE)
//	  request: bob <bob@example.com> (U0BOB)
//	  request: gus <gus@partner.example> (U0GUS) [guest]
//	  auto-approve: bob <bob@example.com> (U0BOB)
//	  error: U0CAROL: eligible: evaluate "…": no such key: …
//
// A role nobody may approve or request says "(nobody)" on that line; the
// auto-approve lines appear only when someone would be auto-approved. An
// aws_sso role has one header per account: "role admin-sso in prod
// (222222222222): aws_sso AdministratorAccess, approvals_required 1".
func (m Map) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("catalog sha256 " + m.CatalogSHA256 + "\n")
	for _, r := range m.Roles {
		in := ""
		if r.Account != "" {
			in = " in " + rules.Account{ID: r.Account, Alias: r.AccountAlias}.String()
		}
		bw.WriteString("role " + r.Role + in + ": " + r.Backend + " " + oneLine(r.Target) +
			", approvals_required " + strconv.Itoa(r.ApprovalsRequired) + "\n")
		writePeople(bw, "approve", r.Approvers, true)
		writePeople(bw, "request", r.Requesters, true)
		writePeople(bw, "auto-approve", r.AutoApproved, false)
		for _, e := range r.Errors {
			bw.WriteString("  error: " + oneLine(e) + "\n")
		}
	}
	return bw.Flush()
}

func writePeople(w *bufio.Writer, label string, people []Person, sayNobody bool) {
	if len(people) == 0 && sayNobody {
		w.WriteString("  " + label + ": (nobody)\n")
	}
	for _, p := range people {
		w.WriteString("  " + label + ": " + p.String() + "\n")
	}
}

// String is the person as one line of the text map:
// "name <email> (ID) [notes]", leaving out what is unknown.
func (p Person) String() string {
	var b strings.Builder
	if p.Name != "" {
		b.WriteString(oneLine(p.Name) + " ")
	}
	if p.Email != "" {
		b.WriteString("<" + oneLine(p.Email) + "> ")
	}
	b.WriteString("(" + oneLine(p.ID) + ")")
	if len(p.Notes) > 0 {
		b.WriteString(" [" + oneLine(strings.Join(p.Notes, ", ")) + "]")
	}
	return b.String()
}

// WriteJSON writes m as indented JSON, in the same order as WriteText.
func (m Map) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // it is read by people and tools, not put in HTML
	return enc.Encode(m)
}
