package awsgrant

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/jitbot/jitbot/internal/wait"
)

// Locker serialises the writers of one role's revoke deny across jitbot
// processes: the policy is read, changed and written back, and two
// replicas doing that at once would each drop the other's request ID.
// Lock blocks until it holds key or ctx is done; unlock releases it.
type Locker interface {
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// How hard commit works to see its change in the policy. IAM is
// eventually consistent, and a writer that does not take the lock (a
// replica of an older jitbot, say) may overwrite it: the change is read
// back a few times and, if still missing, written again.
const (
	commitAttempts = 3
	verifyReads    = 3
	verifyWait     = 100 * time.Millisecond
)

// change is one revocation's or clean-up's edit of a role's deny: deny id
// until hour, or with a zero hour lift it.
type change struct {
	id   string
	hour time.Time
	done chan result // buffered: the writer never waits for the caller
}

type result struct {
	gone  bool   // the role does not exist
	reqID string // AWS request ID of the write that made the change
	err   error
}

// roleQueue gathers the changes of one role waiting to be written, so that
// concurrent revocations of a role share one read and one write.
type roleQueue struct {
	token   chan struct{} // held by the one goroutine writing the role's policy
	mu      sync.Mutex
	pending []*change
}

// denyTarget is a role whose revoke deny is edited, and the IAM client
// that reaches its account.
type denyTarget struct {
	name string // the role's name, as IAM's calls take it
	// key names the role's queue and cross-process lock, and the role in
	// errors: its name in jitbot's own account (as before roles of other
	// accounts were allowed, so older replicas still share the lock),
	// ACCOUNT:NAME in another, so that same-named roles of two accounts
	// are written independently. IAM role names never hold a colon.
	key string
	iam *iam.Client
}

// denyTarget resolves role to the client of its account.
func (s *STS) denyTarget(ctx context.Context, role roleARN) (denyTarget, error) {
	client, err := s.accounts.iamFor(ctx, role)
	if err != nil {
		return denyTarget{}, err
	}
	key := role.name
	if client != s.accounts.own {
		key = role.account + ":" + role.name
	}
	return denyTarget{name: role.name, key: key, iam: client}, nil
}

func (s *STS) queue(key string) *roleQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[key]
	if q == nil {
		q = &roleQueue{token: make(chan struct{}, 1)}
		s.queues[key] = q
	}
	return q
}

// edit makes c on role's deny policy. The caller that takes the role's
// token writes every change pending at that moment, its own and those of
// the callers waiting behind it, in one read-modify-write. A caller whose
// ctx ends first gets its error; its change may still be written later,
// which is harmless: denying or lifting again is the same.
func (s *STS) edit(ctx context.Context, role denyTarget, c *change) result {
	q := s.queue(role.key)
	c.done = make(chan result, 1)
	q.mu.Lock()
	q.pending = append(q.pending, c)
	q.mu.Unlock()
	for {
		select {
		case r := <-c.done:
			return r
		case <-ctx.Done():
			return result{err: ctx.Err()}
		case q.token <- struct{}{}:
			q.mu.Lock()
			batch := q.pending
			q.pending = nil
			q.mu.Unlock()
			if len(batch) > 0 {
				for i, r := range s.commit(ctx, role, batch) {
					batch[i].done <- r
				}
			}
			<-q.token
		}
	}
}

// commit writes batch on role's deny policy under the cross-process lock,
// then reads it back until it shows the changes.
func (s *STS) commit(ctx context.Context, role denyTarget, batch []*change) []result {
	if s.locker != nil {
		unlock, err := s.locker.Lock(ctx, "revoke-deny:"+role.key)
		if err != nil {
			return fill(batch, result{err: fmt.Errorf("lock the revoke deny of role %s: %w", role.key, err)})
		}
		defer unlock()
	}
	for attempt := 1; ; attempt++ {
		results, written := s.write(ctx, role, batch)
		if !written {
			return results
		}
		ok, err := s.verify(ctx, role, batch, results)
		switch {
		case err != nil:
			return fill(batch, result{err: fmt.Errorf("read back the revoke deny of role %s: %w", role.key, err)})
		case ok:
			return results
		case attempt == commitAttempts:
			return fill(batch, result{err: fmt.Errorf("policy %s of role %s still lacks the change after %d writes: another writer keeps replacing it",
				revokedPolicyName, role.key, attempt)})
		}
		s.log.WarnContext(ctx, "the revoke deny lost a change after it was written; writing it again", "role", role.key, "attempt", attempt)
	}
}

// write applies batch to the role's deny policy as read now. written is
// false when nothing was sent (an error, a gone role, or no change).
// Revocations that would take the policy over IAM's quota fail; the
// clean-ups of the batch are still made.
func (s *STS) write(ctx context.Context, role denyTarget, batch []*change) (results []result, written bool) {
	doc, found, err := s.readDeny(ctx, role)
	if err != nil {
		return fill(batch, result{err: err}), false
	}
	before, _, err := doc.encode()
	if err != nil {
		return fill(batch, result{err: err}), false
	}
	doc.prune(s.now())
	results = make([]result, len(batch))
	for _, c := range batch {
		if c.hour.IsZero() {
			doc.remove(c.id)
		}
	}
	lifted, _, _ := doc.encode()
	for _, c := range batch {
		if !c.hour.IsZero() {
			doc.add(c.id, c.hour)
		}
	}
	text, size, err := doc.encode()
	if err == nil && size > maxRolePolicySize {
		err = fmt.Errorf("policy %s of role %s would be %d characters, over IAM's quota of %d characters for a role's inline policies",
			revokedPolicyName, role.key, size, maxRolePolicySize)
		for i, c := range batch {
			if !c.hour.IsZero() {
				results[i].err = err
			}
		}
		text, err = lifted, nil
	}
	if err != nil {
		return fill(batch, result{err: err}), false
	}
	if found && text == before || !found && doc.empty() {
		return results, false
	}
	r := s.put(ctx, role, text, doc.empty())
	for i := range results {
		if results[i].err == nil {
			results[i] = r
		}
	}
	return results, r.err == nil && !r.gone
}

// put writes the role's deny policy, or deletes it when it is empty.
func (s *STS) put(ctx context.Context, role denyTarget, text string, empty bool) result {
	var (
		md  middleware.Metadata
		err error
	)
	if empty {
		out, e := role.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role.name), PolicyName: aws.String(revokedPolicyName)})
		if err = e; e == nil {
			md = out.ResultMetadata
		}
	} else {
		out, e := role.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
			RoleName: aws.String(role.name), PolicyName: aws.String(revokedPolicyName), PolicyDocument: aws.String(text)})
		if err = e; e == nil {
			md = out.ResultMetadata
		}
	}
	var (
		nse *iamtypes.NoSuchEntityException
		api smithy.APIError
	)
	switch {
	case errors.As(err, &nse):
		return result{gone: true}
	case errors.As(err, &api) && api.ErrorCode() == "LimitExceeded":
		return result{err: fmt.Errorf("write policy %s (%d characters) on role %s: the role's inline policies together exceed IAM's quota of %d characters: %w",
			revokedPolicyName, len(text), role.key, maxRolePolicySize, err)}
	case err != nil:
		return result{err: fmt.Errorf("write policy %s on role %s: %w", revokedPolicyName, role.key, err)}
	}
	return result{reqID: requestID(md)}
}

// readDeny reads the role's deny policy. A policy (or role) that does not
// exist is an empty deny.
func (s *STS) readDeny(ctx context.Context, role denyTarget) (doc denyDoc, found bool, err error) {
	out, err := role.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role.name), PolicyName: aws.String(revokedPolicyName)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return denyDoc{hours: map[time.Time][]string{}}, false, nil
	}
	if err != nil {
		return denyDoc{}, false, fmt.Errorf("read policy %s of role %s: %w", revokedPolicyName, role.key, err)
	}
	// IAM returns the document URL-encoded, per RFC 3986.
	text, err := url.PathUnescape(aws.ToString(out.PolicyDocument))
	if err == nil {
		doc, err = parseDenyDoc(text)
	}
	if err != nil {
		return denyDoc{}, false, fmt.Errorf("read policy %s of role %s: %w", revokedPolicyName, role.key, err)
	}
	return doc, true, nil
}

// verify reads the policy back until every change that was written shows,
// waiting a little between reads for IAM's eventual consistency.
func (s *STS) verify(ctx context.Context, role denyTarget, batch []*change, results []result) (bool, error) {
	for i := range verifyReads {
		if i > 0 {
			if err := wait.Sleep(ctx, time.Duration(i)*verifyWait); err != nil {
				return false, err
			}
		}
		doc, _, err := s.readDeny(ctx, role)
		if err != nil {
			return false, err
		}
		if shows(doc, batch, results) {
			return true, nil
		}
	}
	return false, nil
}

// shows reports whether doc has every change of batch that did not fail.
func shows(doc denyDoc, batch []*change, results []result) bool {
	for i, c := range batch {
		if results[i].err == nil && doc.has(c.id) != !c.hour.IsZero() {
			return false
		}
	}
	return true
}

func fill(batch []*change, r result) []result {
	out := make([]result, len(batch))
	for i := range out {
		out[i] = r
	}
	return out
}
