package blockkit

import (
	"strings"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Claims of a workload's token are chosen by whoever controls the CI
// system or cluster (a repository name, a branch, the actor's login), so
// they are user text. They are shown as inline code: escaped like any
// user text, and inert to mrkdwn, so a branch named *bold* or
// <!channel> reads as typed. They are cut so that one claim cannot crowd
// out the rest of a message.
const (
	maxSubjectShown = 200 // the token's sub, in backticks
	maxClaimShown   = 200 // one claim in the workload's fields
)

// requester names whoever asked: a person as who does, a workload as
// "CI job `<subject>` (<issuer name>)". A workload has no Slack account,
// so it is never a mention.
func requester(r *grants.Request) string {
	if !r.ByWorkload() {
		return who(r.Requester) + filedBy(r)
	}
	return workloadName(r.Workload)
}

// requesterMention is requester in one-line event texts, where a person
// is their mention alone.
func requesterMention(r *grants.Request) string {
	if !r.ByWorkload() {
		return Mention(r.Requester.ID) + filedBy(r)
	}
	return workloadName(r.Workload)
}

func workloadName(w *rules.Workload) string {
	kind := "CI job"
	if w.Repository == "" && (w.Namespace != "" || w.ServiceAccount != "") {
		kind = "Kubernetes workload"
	}
	s := kind + " " + orSomeone(code(w.Subject, maxSubjectShown))
	if n := inline(w.IssuerName, maxNameShown); n != "" {
		s += " (" + n + ")"
	}
	return s
}

func orSomeone(s string) string {
	if s == "" {
		return "with no subject"
	}
	return s
}

// workloadFacts are what the token says about the job, one field each,
// left out when the token has no such claim.
func workloadFacts(w *rules.Workload) []string {
	claim := func(label, v string) string { return field(label, code(v, maxClaimShown)) }
	return []string{
		claim("Repository", w.Repository),
		claim("Ref", w.Ref),
		claim("Environment", w.Environment),
		claim("Workflow", w.Workflow),
		claim("Run", w.RunID),
		claim("Triggered by", w.Actor),
		claim("Namespace", w.Namespace),
		claim("Service account", w.ServiceAccount),
	}
}

// workloadBlocks is the fields section describing a workload requester,
// or nothing for a person, to follow the section that names the
// requester.
func workloadBlocks(r *grants.Request) []slack.Block {
	if !r.ByWorkload() {
		return nil
	}
	fs := workloadFacts(r.Workload)
	if strings.Join(fs, "") == "" {
		return nil
	}
	return []slack.Block{fields(fs...)}
}

// workloadLine is workloadFacts on one line, for list entries where many
// requests share a message.
func workloadLine(r *grants.Request) string {
	if !r.ByWorkload() {
		return ""
	}
	var parts []string
	for _, f := range workloadFacts(r.Workload) {
		if f != "" {
			parts = append(parts, strings.Replace(f, "\n", " ", 1))
		}
	}
	return strings.Join(parts, " · ")
}
