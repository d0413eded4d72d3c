// Package awsgrant implements grants.Backend on AWS: aws_sts hands out
// AssumeRole session credentials that a session policy ends at the grant's
// expiry, aws_iam_group adds an IAM user to a group and removes it again.
package awsgrant

import (
	"strings"
	"unicode"

	"github.com/jitbot/jitbot/internal/grants"
)

// STS and IAM name limits, from the AssumeRole and PutRolePolicy API
// references: RoleSessionName and SourceIdentity are [\w+=,.@-]{2,64},
// inline policy names [\w+=,.@-]{1,128}; session tag values are at most 256
// characters of letters, digits, spaces and _.:/=+-@.
const (
	maxSessionName    = 64
	maxSourceIdentity = 64
	maxPolicyName     = 128
	maxTagValue       = 256
)

// SessionName derives the STS RoleSessionName for a grant, e.g.
// "jit-alice-JIT-7K3QX2" for alice@example.com. CloudTrail shows it next to
// every call the session makes, so it names the human and the request.
// Characters STS does not accept become '-', and when the result would be
// longer than STS's 64 characters the email part is shortened, so the
// request ID always survives whole.
func SessionName(email string, id grants.RequestID) string {
	local := email
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		local = email[:i]
	}
	return sessionName(local, id)
}

// WorkloadSessionName is SessionName for a CI job or agent: the issuer's
// catalog name and the token's subject stand where a person's email would,
// e.g. "jit-github-repo-acme-infra-ref-refs-heads-main-JIT-7K3QX2", so
// GetCallerIdentity and CloudTrail's userIdentity name the job, not only
// the SourceIdentity that AWS shows in fewer places.
func WorkloadSessionName(issuerName, subject string, id grants.RequestID) string {
	return sessionName(issuerName+"-"+subject, id)
}

// sessionName is "jit-<who>-<id>", who cut so that the ID survives whole.
func sessionName(who string, id grants.RequestID) string {
	suffix := "-" + sanitizeName(string(id), maxSessionName)
	who = sanitizeName(who, max(maxSessionName-len("jit-")-len(suffix), 0))
	name := "jit"
	if who != "" {
		name += "-" + who
	}
	return cut(name+suffix, maxSessionName)
}

// sanitizeName maps s onto IAM's name alphabet [\w+=,.@-], replacing every
// other character with '-', and cuts it to max bytes (the result is ASCII).
func sanitizeName(s string, max int) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x80 && (r == '_' || r == '+' || r == '=' || r == ',' || r == '.' || r == '@' || r == '-' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'):
			b = append(b, byte(r))
		default:
			b = append(b, '-')
		}
	}
	return cut(string(b), max)
}

// tagValue maps s onto the session tag alphabet, replacing every other
// character with '_', and cuts it to 256 characters.
func tagValue(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if len(out) == maxTagValue {
			break
		}
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Z, r) && !strings.ContainsRune("_.:/=+-@", r) {
			r = '_'
		}
		out = append(out, r)
	}
	return string(out)
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
