// Package suggest turns what a role's past grants did, as CloudTrail saw
// it, into a least-privilege suggestion: the actions used, a session
// policy that allows only those, how many grants wrote nothing, and a
// shorter default_duration when the grants were used for much less time
// than they ran. It is pure: the caller reads the audit log and CloudTrail
// and hands over usage records.
package suggest

import (
	"fmt"
	"regexp"
	"strings"
)

// Action is an IAM action, service:Name, e.g. s3:GetObject.
type Action struct {
	Service, Name string
}

func (a Action) String() string { return a.Service + ":" + a.Name }

var (
	serviceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	nameRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,127}$`)
	// apiVersionRE is the API version some services append to the
	// CloudTrail eventName (Lambda: ListFunctions20150331,
	// GetFunctionConfiguration20150331v2); IAM names the action without it.
	// It must follow a letter, so that stripping it once leaves nothing
	// to strip again.
	apiVersionRE = regexp.MustCompile(`([A-Za-z])(19|20)[0-9]{6}(v[0-9]+)?$`)
)

// ParseAction reads "service:Name" as CloudTrail events yield it (event
// source prefix, event name) and returns the IAM action. It drops an API
// version suffix from the name. Anything else — no colon, a wildcard, a
// character IAM does not use — is an error, so no text from CloudTrail
// reaches a policy or a Slack message unchecked.
func ParseAction(s string) (Action, error) {
	svc, name, ok := strings.Cut(s, ":")
	if !ok {
		return Action{}, fmt.Errorf("action %q: want service:Name", s)
	}
	if !serviceRE.MatchString(svc) {
		return Action{}, fmt.Errorf("action %q: service %q is not a lowercase IAM service prefix", s, svc)
	}
	name = apiVersionRE.ReplaceAllString(name, "$1")
	if !nameRE.MatchString(name) {
		return Action{}, fmt.Errorf("action %q: name %q is not an IAM action name", s, name)
	}
	return Action{Service: svc, Name: name}, nil
}

// readVerbs are the leading words of IAM actions that only read. This is
// the one place jitbot decides what counts as read-only: an action whose
// name starts with one of these words (followed by the next capitalised
// word or nothing) reads; every other action may write. The list errs on
// the side of "write": an unknown verb is never called read-only.
var readVerbs = []string{
	"BatchGet", "Describe", "Get", "Head", "List", "Lookup", "Query", "Scan", "Search", "Select", "View",
}

// ReadOnly reports whether a only reads, by readVerbs.
func (a Action) ReadOnly() bool { return readVerb(a.Name) != "" }

// readVerb is the word of readVerbs that name starts with, or "".
func readVerb(name string) string {
	for _, v := range readVerbs {
		if rest, ok := strings.CutPrefix(name, v); ok && (rest == "" || isUpper(rest[0])) {
			return v
		}
	}
	return ""
}

// Verb is the action's leading word, which groups it with its kind:
// the read verb when there is one (BatchGetItem: BatchGet), else the first
// capitalised word (PutObject: Put).
func (a Action) Verb() string {
	if v := readVerb(a.Name); v != "" {
		return v
	}
	for i := 1; i < len(a.Name); i++ {
		if isUpper(a.Name[i]) {
			return a.Name[:i]
		}
	}
	return a.Name
}

func isUpper(b byte) bool { return 'A' <= b && b <= 'Z' }
