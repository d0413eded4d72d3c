// Package awsorg lists the accounts under an organizational unit of AWS
// Organizations, for the aws_sso roles whose catalog entry names one, and
// keeps the last good listing of each.
package awsorg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/jitbot/jitbot/internal/rules"
)

// API is the part of the Organizations client the package calls.
type API interface {
	organizations.ListAccountsForParentAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
}

// Accounts lists the active accounts under parent (an OU or a root),
// through every child OU, sorted by ID. Each carries an alias made from
// its name when the name makes a valid one.
func Accounts(ctx context.Context, api API, parent string) ([]rules.Account, error) {
	var out []rules.Account
	queue, seen := []string{parent}, map[string]bool{parent: true}
	for len(queue) > 0 {
		ou := queue[0]
		queue = queue[1:]
		accounts, err := accountsIn(ctx, api, ou)
		if err != nil {
			return nil, err
		}
		out = append(out, accounts...)
		children, err := childOUs(ctx, api, ou)
		if err != nil {
			return nil, err
		}
		for _, c := range children {
			if !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	slices.SortFunc(out, func(a, b rules.Account) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b rules.Account) bool { return a.ID == b.ID }), nil
}

// accountsIn lists the active accounts directly in parent.
func accountsIn(ctx context.Context, api API, parent string) ([]rules.Account, error) {
	var out []rules.Account
	p := organizations.NewListAccountsForParentPaginator(api, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the accounts in %s: %w", parent, err)
		}
		for _, a := range page.Accounts {
			if active(a) {
				out = append(out, rules.Account{ID: aws.ToString(a.Id), Alias: Alias(aws.ToString(a.Name))})
			}
		}
	}
	return out, nil
}

// active reads State, and Status where State is not given: AWS retires
// Status in September 2026, and emulators may give only one of them.
func active(a types.Account) bool {
	if a.State != "" {
		return a.State == types.AccountStateActive
	}
	return a.Status == types.AccountStatusActive
}

// childOUs lists the OUs directly in parent.
func childOUs(ctx context.Context, api API, parent string) ([]string, error) {
	var out []string
	p := organizations.NewListOrganizationalUnitsForParentPaginator(api, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the organizational units in %s: %w", parent, err)
		}
		for _, ou := range page.OrganizationalUnits {
			out = append(out, aws.ToString(ou.Id))
		}
	}
	return out, nil
}

var notAliasRE = regexp.MustCompile(`[^a-z0-9]+`)

// Alias is the account alias made from an account's name: lower-cased,
// each run of other characters than a-z and 0-9 made one dash, without
// dashes at the ends; "" when that is no valid alias (empty, too long).
func Alias(name string) string {
	a := strings.Trim(notAliasRE.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if !rules.ValidAlias(a) {
		return ""
	}
	return a
}

// Resolver keeps the accounts of each organizational unit as last read.
type Resolver struct {
	api API
	log *slog.Logger

	mu       sync.Mutex
	accounts map[string][]rules.Account
}

// NewResolver reads organizational units through api.
func NewResolver(api API, log *slog.Logger) *Resolver {
	return &Resolver{api: api, log: log, accounts: map[string][]rules.Account{}}
}

// Refresh reads the accounts of ous again. An OU that cannot be read
// keeps the accounts last read, if any, and its error is logged and
// returned with the others'. OUs not in ous are forgotten.
func (r *Resolver) Refresh(ctx context.Context, ous []string) error {
	next := map[string][]rules.Account{}
	var errs []error
	for _, ou := range ous {
		accounts, err := Accounts(ctx, r.api, ou)
		if err == nil {
			next[ou] = accounts
			continue
		}
		r.mu.Lock()
		last, ok := r.accounts[ou]
		r.mu.Unlock()
		if ok {
			next[ou] = last
		}
		r.log.Error("organizational unit not read; its roles keep the accounts last read", "organizational_unit", ou, "accounts_kept", len(last), "err", err)
		errs = append(errs, fmt.Errorf("organizational unit %s: %w", ou, err))
	}
	r.mu.Lock()
	r.accounts = next
	r.mu.Unlock()
	return errors.Join(errs...)
}

// Accounts returns the accounts of each OU as last read, for
// rules.Catalog.WithOrganizationalUnits. The caller may keep it.
func (r *Resolver) Accounts() map[string][]rules.Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]rules.Account, len(r.accounts))
	for ou, accounts := range r.accounts {
		out[ou] = slices.Clone(accounts)
	}
	return out
}

// Apply reads the organizational units of c again and returns c with
// their accounts (see Refresh for an OU that cannot be read); c itself
// when no role names one. serve and access-map both resolve a catalog
// this way.
func (r *Resolver) Apply(ctx context.Context, c *rules.Catalog) (*rules.Catalog, error) {
	ous := c.OrganizationalUnits()
	if len(ous) == 0 {
		return c, nil
	}
	err := r.Refresh(ctx, ous)
	return c.WithOrganizationalUnits(r.Accounts()), err
}
