package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// takeoverGrants is how many grants expire at once in the takeover phase:
// enough to keep both replicas' workers busy.
const takeoverGrants = 64

// takeover is docs/design.md §6's takeover figure: two replicas share the
// store; grants expire together while their RemoveUserFromGroup calls are
// held at the proxy, so both replicas hold revocations in flight; one
// replica is SIGKILLed and the calls are let go. The figure is, for each
// record the killed process held at the kill, the time from the kill to
// its revocation finished by the other.
func (b *bench) takeover(ctx context.Context) error {
	second, err := b.startReplica("replica")
	if err != nil {
		return err
	}
	defer second.kill()
	release := b.st.aws.Hold("RemoveUserFromGroup")
	defer release()
	at, seeded, err := b.seedExpiring(ctx, "takeover", b.iamGrants(), takeoverGrants, func(t0 time.Time, _ int) time.Time { return t0 })
	if err != nil {
		return err
	}
	b.logf("takeover: %d grants expire at %s, their revocations held at the proxy", len(seeded), at.Format(time.TimeOnly))
	var owners map[grants.RequestID]string
	err = waitFor(ctx, "both replicas to hold revocations", time.Until(at)+20*time.Second, func() bool {
		leased, err := b.st.store.Leased(ctx)
		if err != nil {
			return false
		}
		held := map[string]int{}
		for _, owner := range leased {
			held[owner]++
		}
		owners = leased
		return len(held) >= 2 && b.st.aws.Held("RemoveUserFromGroup") >= 8
	})
	if err != nil {
		return err
	}
	second.kill()
	killed := time.Now()
	release()
	alive, err := b.deadAfter(ctx, owners)
	if err != nil {
		return err
	}
	var took []float64
	for id, owner := range owners {
		if alive[owner] {
			continue
		}
		var r *grants.Request
		err := waitFor(ctx, "the killed replica's revocation "+string(id)+" to be finished", 60*time.Second, func() bool {
			r, err = b.st.store.Get(ctx, id)
			return err == nil && r.State == grants.Revoked
		})
		if err != nil {
			return err
		}
		took = append(took, ms(r.RevokedAt.Sub(killed)))
	}
	if len(took) == 0 {
		return fmt.Errorf("the killed replica held none of the %d leases", len(owners))
	}
	b.add(figure{Name: "takeover", Unit: unitMS, Sum: summarize(took), Target: 3000, TargetOnMax: true,
		What: fmt.Sprintf("two replicas, %d grants expiring together, revocations held at the proxy; one replica SIGKILLed: kill → each revocation it held finished by the other (%d of %d leases)", len(seeded), len(took), len(owners))})
	return b.waitRevokedAll(ctx, seeded)
}

// deadAfter waits for a liveness key to lapse after a kill and reports
// which of owners' processes are still alive.
func (b *bench) deadAfter(ctx context.Context, owners map[grants.RequestID]string) (map[string]bool, error) {
	var names []string
	for _, o := range owners {
		names = append(names, o)
	}
	var alive map[string]bool
	err := waitFor(ctx, "the killed replica's liveness key to lapse", 10*time.Second, func() bool {
		var err error
		alive, err = b.st.store.Alive(ctx, names)
		if err != nil {
			return false
		}
		for _, ok := range alive {
			if !ok {
				return true
			}
		}
		return false
	})
	return alive, err
}

// waitRevokedAll waits until every seeded grant is revoked, so the next
// phase starts from a quiet store.
func (b *bench) waitRevokedAll(ctx context.Context, gs []seeded) error {
	return waitFor(ctx, "every grant of the takeover phase to be revoked", 2*time.Minute, func() bool {
		for _, g := range gs {
			r, err := b.st.store.Get(ctx, g.id)
			if err != nil || r.State != grants.Revoked {
				return false
			}
		}
		return true
	})
}
