package pace

// Limit is one of Slack's published rate limits: calls a minute, and the
// short burst above that rate Slack tolerates. Slack publishes no burst
// size; the bursts here are a guess at "short".
// https://api.slack.com/apis/rate-limits
type Limit struct {
	PerMinute float64
	Burst     float64
}

// Slack's tiers. Web API methods are limited per method and workspace;
// chat.postMessage per channel instead, about one message a second, and
// every DM is a channel of its own.
var (
	Tier1      = Limit{PerMinute: 1, Burst: 2}
	Tier2      = Limit{PerMinute: 20, Burst: 5}
	Tier3      = Limit{PerMinute: 50, Burst: 10}
	Tier4      = Limit{PerMinute: 100, Burst: 20}
	PerChannel = Limit{PerMinute: 60, Burst: 3}
)

// PerChannelMethod is the method limited per channel (PerChannel).
const PerChannelMethod = "chat.postMessage"

// tiers are the tiers of the methods jitbot calls, from each method's page
// on api.slack.com. auth.test is "special" (far above what a bot calls);
// it is put in Tier 4.
var tiers = map[string]Limit{
	"auth.test":             Tier4,
	"apps.connections.open": Tier1,
	"chat.postEphemeral":    Tier4,
	"chat.update":           Tier3,
	"chat.delete":           Tier3,
	"conversations.open":    Tier3,
	"conversations.history": Tier3,
	"users.info":            Tier4,
	"users.list":            Tier2,
	"users.lookupByEmail":   Tier3,
	"usergroups.list":       Tier2,
	"usergroups.users.list": Tier2,
	"views.open":            Tier4,
	"views.push":            Tier4,
	"views.update":          Tier4,
	"views.publish":         Tier4,

	"files.getUploadURLExternal":   Tier4,
	"files.completeUploadExternal": Tier4,
}

// Of returns the limit of a Web API method, and false for a method whose
// limit jitbot does not know.
func Of(method string) (Limit, bool) {
	if method == PerChannelMethod {
		return PerChannel, true
	}
	l, ok := tiers[method]
	return l, ok
}
