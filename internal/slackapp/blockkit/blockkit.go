// Package blockkit renders jitbot's domain values as Slack Block Kit
// messages, modals and the App Home. It holds the project's one mrkdwn
// escaper and enforces Slack's size limits in one place, so that no user
// text can become a mention or a link and no message is refused for being
// too long.
//
// It makes no decisions and does no I/O. Where time left is shown, the
// caller passes now; everything else is written as absolute times in
// Slack's date format, which each reader sees in their own time zone.
package blockkit

// Identifiers the Slack handlers route on. A button's value is always the
// request ID and nothing else: everything shown or acted on is read from
// the store.
const (
	ActionApprove = "jit_approve" // value: the request ID
	ActionDeny    = "jit_deny"    // value: request ID; opens the deny modal
	ActionRevoke  = "jit_revoke"  // value: request ID; on a pending request of one's own it cancels it
	ActionExtend  = "jit_extend"  // value: request ID; opens the extend modal
	// ActionAcknowledge: an owner has reviewed a break-glass grant; value:
	// request ID.
	ActionAcknowledge = "jit_acknowledge"

	ViewRequest = "jit_request" // callback_id of the request modal
	ViewDeny    = "jit_deny"    // callback_id of the deny modal; private_metadata = request ID
	ViewExtend  = "jit_extend"  // callback_id of the extend modal; private_metadata = request ID

	// Every input's block_id equals its action_id, so a handler reads
	// view.state.values[X][X].
	InputRole     = "role"     // static_select in the request modal; option value = role name
	InputDuration = "duration" // plain_text_input; optional in the request modal, required in the extend modal
	InputIncident = "incident" // plain_text_input, optional
	InputStart    = "start"    // datetimepicker, optional: a window asked for ahead
	InputFor      = "for"      // users_select, optional: the person the request is for
	InputAccount  = "account"  // static_select of the aws_sso roles' accounts, optional; only when there are some
	InputReason   = "reason"   // multiline plain_text_input; required in the request modal, optional in the deny modal
)

// Slack's size limits, from https://api.slack.com/reference/block-kit.
// Lengths are in characters (Unicode code points), as Slack counts them.
const (
	MaxSectionText   = 3000  // section text; also any mrkdwn text object
	MaxFieldText     = 2000  // one section field
	MaxFields        = 10    // fields per section
	MaxPlainText     = 150   // header text, placeholders
	MaxButtonText    = 75    // button label
	MaxButtonValue   = 2000  // button value
	MaxOptionText    = 75    // select option text and description
	MaxOptionValue   = 150   // select option value
	MaxOptions       = 100   // options of a static_select, and option groups
	MaxTitleText     = 24    // modal title, submit and close labels
	MaxMetadata      = 3000  // a view's private_metadata
	MaxMessageBlocks = 50    // blocks in a message
	MaxViewBlocks    = 100   // blocks in a modal or the App Home
	MaxMessageText   = 40000 // a message's top-level text
	MaxFallbackText  = 3000  // what jitbot uses for notification (fallback) text
	maxActions       = 25    // elements of an actions block
	maxReasonShown   = 600   // a reason is at most grants.MaxReason (500) runes; escaping may lengthen it
	maxRuleShown     = 300   // a CEL rule in backticks
	maxErrorShown    = 800   // an error text from AWS or the domain
	maxNameShown     = 80    // a person's display name
	maxEmailShown    = 120   // an email address
	maxListReason    = 200   // a reason in /jit list and the App Home, where many requests share a message
	maxRoleLine      = 500   // one role in /jit roles
	maxFilterShown   = 150   // the words of /jit roles <words…>: command.MaxFilter (100) runes, escaped
)
