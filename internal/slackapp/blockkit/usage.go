package blockkit

import "github.com/slack-go/slack"

// maxUsageShown bounds the usage line; it is a hint, not a report.
const maxUsageShown = 300

// WithUsage adds the role's usage line (from jitbot's usage history, e.g.
// "the last 20 grants used only s3:Get*, ec2:Describe*") to an approval
// DM, just above its buttons, where an approver weighs the request. The
// line is built from CloudTrail data, so it is escaped like user text. An
// empty line leaves the blocks as they are.
func WithUsage(bs []slack.Block, line string) []slack.Block {
	if line == "" {
		return bs
	}
	at := len(bs)
	for i, b := range bs {
		if _, ok := b.(*slack.ActionBlock); ok {
			at = i
			break
		}
	}
	usage := note(":bar_chart: Usage: " + cut(Escape(oneLine(line)), maxUsageShown))
	return append(bs[:at:at], append([]slack.Block{usage}, bs[at:]...)...)
}
