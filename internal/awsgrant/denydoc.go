package awsgrant

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// revokedPolicyName is the one inline policy per role that holds the deny
// of every early revocation of that role. One policy per revocation, as
// jitbot wrote before, hit IAM's size quota after a few dozen.
const revokedPolicyName = "jit-revoked"

// maxRolePolicySize is IAM's quota on the total size of a role's inline
// policies, in characters, whitespace not counted.
const maxRolePolicySize = 10240

// The deny has one statement per hour in which the revocations it holds
// may be lifted, Sid "Until" and the hour in UTC (Until2030010215 is 15:00
// on 2 January 2030). The hour is at or after the cleanup time of every
// request ID in the statement, so any writer may drop a statement whose
// hour has passed: the credentials it denies have expired. That keeps the
// policy bounded even if a Cleanup is lost, and costs about 130 characters
// per hour (at most 14, STS sessions last at most 12 h) and 13 per ID.
const (
	sidPrefix  = "Until"
	hourLayout = "2006010215"
)

// untilHour is the end of the hour in which a deny lifted at cleanup may go.
func untilHour(cleanup time.Time) time.Time {
	u := cleanup.UTC().Truncate(time.Hour)
	if u.Before(cleanup) {
		u = u.Add(time.Hour)
	}
	return u
}

// denyDoc is the revoke deny of one role: for each hour, the jit-request
// tag values it denies everything to.
type denyDoc struct {
	hours   map[time.Time][]string
	foreign []json.RawMessage // statements jitbot did not write, kept as they are
}

// denyStatement is a statement of the revoke deny as written on the wire.
type denyStatement struct {
	Sid       string
	Effect    string
	Action    string
	Resource  string
	Condition map[string]map[string]stringList
}

// stringList is a condition value: IAM takes one string or a list.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

const tagCondition = "aws:PrincipalTag/" + tagRequest

// parseDenyDoc reads the policy text that GetRolePolicy returned, already
// URL-decoded.
func parseDenyDoc(text string) (denyDoc, error) {
	d := denyDoc{hours: map[time.Time][]string{}}
	var doc struct{ Statement []json.RawMessage }
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return d, fmt.Errorf("policy is not a JSON document with a Statement list: %w", err)
	}
	for _, raw := range doc.Statement {
		hour, ids, ok := ourStatement(raw)
		if !ok {
			d.foreign = append(d.foreign, raw)
			continue
		}
		for _, id := range ids {
			d.add(id, hour)
		}
	}
	return d, nil
}

// ourStatement reads a statement that jitbot wrote: a deny of the
// sessions with one of ids as jit-request, until hour.
func ourStatement(raw json.RawMessage) (hour time.Time, ids []string, ok bool) {
	var st denyStatement
	if json.Unmarshal(raw, &st) != nil || st.Effect != "Deny" || !strings.HasPrefix(st.Sid, sidPrefix) {
		return time.Time{}, nil, false
	}
	hour, err := time.Parse(hourLayout, strings.TrimPrefix(st.Sid, sidPrefix))
	ids, found := st.Condition["StringEquals"][tagCondition]
	return hour, ids, err == nil && found
}

// add denies id until hour, or until the later hour it is already under.
func (d *denyDoc) add(id string, hour time.Time) {
	for h, ids := range d.hours {
		if slices.Contains(ids, id) {
			if !h.Before(hour) {
				return
			}
			d.remove(id)
			break
		}
	}
	d.hours[hour] = append(d.hours[hour], id)
}

// remove lifts the deny of id, whichever hour it is under.
func (d *denyDoc) remove(id string) {
	for h, ids := range d.hours {
		if i := slices.Index(ids, id); i >= 0 {
			ids = slices.Delete(ids, i, i+1)
			if len(ids) == 0 {
				delete(d.hours, h)
			} else {
				d.hours[h] = ids
			}
		}
	}
}

// has reports whether id is denied.
func (d denyDoc) has(id string) bool {
	for _, ids := range d.hours {
		if slices.Contains(ids, id) {
			return true
		}
	}
	return false
}

// prune drops the hours that have passed at now.
func (d *denyDoc) prune(now time.Time) {
	for h := range d.hours {
		if !now.Before(h) {
			delete(d.hours, h)
		}
	}
}

func (d denyDoc) empty() bool { return len(d.hours) == 0 && len(d.foreign) == 0 }

// encode writes the policy document, hours in order and IDs sorted, so
// that the same deny is always the same text, and returns its size as IAM
// counts it against maxRolePolicySize.
func (d denyDoc) encode() (string, int, error) {
	var stmts []any
	for _, h := range slices.SortedFunc(maps.Keys(d.hours), time.Time.Compare) {
		ids := slices.Sorted(slices.Values(d.hours[h]))
		stmts = append(stmts, denyStatement{
			Sid:       sidPrefix + h.UTC().Format(hourLayout),
			Effect:    "Deny",
			Action:    "*",
			Resource:  "*",
			Condition: map[string]map[string]stringList{"StringEquals": {tagCondition: ids}},
		})
	}
	for _, raw := range d.foreign {
		stmts = append(stmts, raw)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(policyDoc{Version: policyVersion, Statement: stmts}); err != nil {
		return "", 0, fmt.Errorf("encode the revoke deny: %w", err)
	}
	text := strings.TrimSuffix(b.String(), "\n")
	return text, utf8.RuneCountInString(text), nil
}
