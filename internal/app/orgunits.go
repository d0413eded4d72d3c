package app

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/jitbot/jitbot/internal/awsorg"
	"github.com/jitbot/jitbot/internal/rules"
)

// ouRefresh is how often the accounts under the catalog's organizational
// units are read again. An account created in or moved into an OU can be
// requested within this time (at once after SIGHUP); reading is a few
// Organizations calls per OU, which stays far below its rate limits even
// with several replicas, and accounts are rarely made in a hurry.
const ouRefresh = 10 * time.Minute

// ouReadTimeout bounds one reading of the OUs: the catalog watcher waits
// for it, and a hung call must not hold up catalog reloads.
const ouReadTimeout = time.Minute

// withOUs returns c with the accounts of its organizational units, read
// now from AWS Organizations; c itself when no role names one. An OU that
// cannot be read keeps the accounts last read, or none, which leaves its
// roles their static accounts: jitbot runs on, says so in the log and the
// audit channel, and tries again at the next refresh.
func (a *App) withOUs(ctx context.Context, c *rules.Catalog) *rules.Catalog {
	ous := c.OrganizationalUnits()
	if len(ous) == 0 {
		return c
	}
	if a.orgs == nil {
		// Built only now: a catalog without OUs needs no Organizations
		// permission at all.
		a.orgs = awsorg.NewResolver(organizations.NewFromConfig(a.awsCfg), a.log)
	}
	ctx, cancel := context.WithTimeout(ctx, ouReadTimeout)
	defer cancel()
	resolved, err := a.orgs.Apply(ctx, c)
	a.reportOUs(ous, err)
	return resolved
}

// reportOUs tells the audit channel when reading the OUs starts failing
// and when it works again; each failure is logged by the resolver. Told
// once, a failure is not repeated every refresh.
func (a *App) reportOUs(ous []string, err error) {
	switch {
	case err != nil && !a.ouFailing:
		a.ouFailing = true
		a.trail.Announce(fmt.Sprintf("The accounts of organizational units could not be read from AWS Organizations, so their roles keep the accounts last read, or only those the catalog lists. jitbot tries again every %v and on SIGHUP:\n%v", ouRefresh, err))
	case err == nil && a.ouFailing:
		a.ouFailing = false
		a.log.Info("organizational units read again", "organizational_units", ous)
		a.trail.Announce(fmt.Sprintf("The accounts of organizational units %v were read again from AWS Organizations.", ous))
	case err == nil:
		a.log.Debug("organizational units read", "organizational_units", ous)
	}
}

// refreshOUs reads the OUs of the catalog in force again and puts the
// result in force.
func (a *App) refreshOUs(ctx context.Context) {
	if len(a.catalog.OrganizationalUnits()) == 0 {
		return
	}
	a.svc.SetCatalog(a.withOUs(ctx, a.catalog))
}
