package awsorg_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/jitbot/jitbot/internal/awsorg"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/testenv"
)

// workloads is an organization in moto: OU workloads holds "Team Alpha
// Prod" and a closed account, its child OU sandbox holds "sandbox_1", and
// "Outside" stays in the root.
type workloads struct {
	moto                            *testenv.Moto
	org                             *testenv.Organization
	ou, child                       string
	alpha, sandbox, closed, outside string
}

func newWorkloads(t *testing.T) *workloads {
	t.Helper()
	w := &workloads{moto: testenv.StartMoto(t)}
	w.org = testenv.CreateOrganization(t, testenv.AWSConfig(t, w.moto.URL()))
	w.ou = w.org.OU(t, w.org.Root, "workloads")
	w.child = w.org.OU(t, w.ou, "sandbox")
	w.alpha = w.org.Account(t, "Team Alpha Prod", w.ou)
	w.sandbox = w.org.Account(t, "sandbox_1", w.child)
	w.closed = w.org.Account(t, "Closed", w.ou)
	w.outside = w.org.Account(t, "Outside", w.org.Root)
	if _, err := w.org.Client.CloseAccount(t.Context(), &organizations.CloseAccountInput{AccountId: aws.String(w.closed)}); err != nil {
		t.Fatal(err)
	}
	return w
}

func sortedByID(accounts ...rules.Account) []rules.Account {
	slices.SortFunc(accounts, func(a, b rules.Account) int { return strings.Compare(a.ID, b.ID) })
	return accounts
}

// TestAccountsUnderAnOU: the active accounts of an OU and of its child
// OUs, with aliases from their names; not a closed one, nor one outside.
func TestAccountsUnderAnOU(t *testing.T) {
	w := newWorkloads(t)
	got, err := awsorg.Accounts(t.Context(), w.org.Client, w.ou)
	if err != nil {
		t.Fatal(err)
	}
	want := sortedByID(rules.Account{ID: w.alpha, Alias: "team-alpha-prod"}, rules.Account{ID: w.sandbox, Alias: "sandbox-1"})
	if !slices.Equal(got, want) {
		t.Errorf("accounts of the OU = %v, want %v", got, want)
	}
	root, err := awsorg.Accounts(t.Context(), w.org.Client, w.org.Root)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(root))
	for i, a := range root {
		ids[i] = a.ID
	}
	for _, id := range []string{w.alpha, w.sandbox, w.outside} {
		if !slices.Contains(ids, id) {
			t.Errorf("the root's accounts %v lack %s", ids, id)
		}
	}
	if slices.Contains(ids, w.closed) {
		t.Errorf("the root's accounts %v hold the closed account %s", ids, w.closed)
	}
	if _, err := awsorg.Accounts(t.Context(), w.org.Client, "ou-zzzz-zzzzzzzz"); err == nil || !strings.Contains(err.Error(), "list the accounts in ou-zzzz-zzzzzzzz") {
		t.Errorf("an OU that does not exist: %v", err)
	}
}

// TestAccountsOfALargeOU: more accounts and child OUs than one page of
// each listing (Organizations' default is 20) are all read.
func TestAccountsOfALargeOU(t *testing.T) {
	m := testenv.StartMoto(t)
	org := testenv.CreateOrganization(t, testenv.AWSConfig(t, m.URL()))
	ou := org.OU(t, org.Root, "large")
	var want []rules.Account
	for i := range 21 {
		want = append(want, rules.Account{ID: org.Account(t, fmt.Sprintf("acct-%02d", i), ou), Alias: fmt.Sprintf("acct-%02d", i)})
	}
	var child string
	for i := range 21 {
		child = org.OU(t, ou, fmt.Sprintf("child-%02d", i))
	}
	want = append(want, rules.Account{ID: org.Account(t, "in the last child", child), Alias: "in-the-last-child"})
	got, err := awsorg.Accounts(t.Context(), org.Client, ou)
	if err != nil {
		t.Fatal(err)
	}
	if want = sortedByID(want...); !slices.Equal(got, want) {
		t.Errorf("got %d accounts, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

func TestAlias(t *testing.T) {
	for name, want := range map[string]string{
		"Team Alpha Prod":       "team-alpha-prod",
		"  --Prod__EU (1)-- ":   "prod-eu-1",
		"sandbox_1":             "sandbox-1",
		"Ünïcode Only":          "n-code-only",
		"!!!":                   "",
		"":                      "",
		strings.Repeat("a", 63): strings.Repeat("a", 63),
		strings.Repeat("a", 64): "",

		// Slack mrkdwn, a mention and control characters in a name
		// someone in the organisation chose: none of it reaches Slack.
		"<!channel> *prod*\n\u202e`x`": "channel-prod-x",
	} {
		if got := awsorg.Alias(name); got != want {
			t.Errorf("Alias(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestResolverKeepsTheLastGoodListing: when Organizations cannot be read,
// each OU keeps the accounts last read and the error names it; an OU
// never read has none; an OU no longer asked for is forgotten.
func TestResolverKeepsTheLastGoodListing(t *testing.T) {
	w := newWorkloads(t)
	r := awsorg.NewResolver(w.org.Client, slog.New(slog.DiscardHandler))
	if err := r.Refresh(t.Context(), []string{w.ou, w.child}); err != nil {
		t.Fatal(err)
	}
	first := r.Accounts()
	if len(first[w.ou]) != 2 || len(first[w.child]) != 1 {
		t.Fatalf("after the first refresh: %v", first)
	}
	w.moto.Reset(t) // the organization is gone: every listing fails
	err := r.Refresh(t.Context(), []string{w.ou, "ou-zzzz-zzzzzzzz"})
	if err == nil || !strings.Contains(err.Error(), "organizational unit "+w.ou) || !strings.Contains(err.Error(), "organizational unit ou-zzzz-zzzzzzzz") {
		t.Errorf("refresh without the organization: %v, want both OUs named", err)
	}
	got := r.Accounts()
	if !slices.Equal(got[w.ou], first[w.ou]) {
		t.Errorf("after a failed refresh %s has %v, want the last good %v", w.ou, got[w.ou], first[w.ou])
	}
	if _, ok := got["ou-zzzz-zzzzzzzz"]; ok || len(got) != 1 {
		t.Errorf("after a failed refresh: %v, want only %s (the child no longer asked for, the new OU never read)", got, w.ou)
	}
	got[w.ou][0].Alias = "changed"
	if r.Accounts()[w.ou][0].Alias == "changed" {
		t.Errorf("Accounts hands out the resolver's own slices")
	}
}
