package blockkit

import (
	"github.com/slack-go/slack"
)

// The builders below are the only places blocks are made, so every limit
// is applied here once rather than at each call.

// mrkdwn is a mrkdwn text object. Verbatim stops Slack from linking bare
// URLs, channel names and @mentions on its own; the sequences jitbot
// writes itself (<@U…>, <!date…>) still work.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, cut(s, MaxSectionText), false, true)
}

func plain(s string, max int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, cutPlain(s, max), true, false)
}

func section(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(s), nil, nil)
}

// sectionWith is a section with one button beside its text.
func sectionWith(s string, b *slack.ButtonBlockElement) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(s), nil, slack.NewAccessory(b))
}

// fields is a section of up to ten short mrkdwn fields; empty ones are
// left out.
func fields(fs ...string) *slack.SectionBlock {
	var objs []*slack.TextBlockObject
	for _, f := range fs {
		if f != "" && len(objs) < MaxFields {
			objs = append(objs, slack.NewTextBlockObject(slack.MarkdownType, cut(f, MaxFieldText), false, true))
		}
	}
	return slack.NewSectionBlock(nil, objs, nil)
}

func field(label, value string) string {
	if value == "" {
		return ""
	}
	return "*" + label + "*\n" + value
}

func header(s string) *slack.HeaderBlock {
	return slack.NewHeaderBlock(plain(s, MaxPlainText))
}

func note(s string) *slack.ContextBlock {
	return slack.NewContextBlock("", mrkdwn(s))
}

func divider() *slack.DividerBlock { return slack.NewDividerBlock() }

// button makes a button whose value is a request ID. A value cut to fit
// would name another request, so an over-long one is dropped: the click
// then finds no request, which is safe.
func button(label, action, value string, style slack.Style) *slack.ButtonBlockElement {
	if len(value) > MaxButtonValue {
		value = ""
	}
	b := slack.NewButtonBlockElement(action, value, plain(label, MaxButtonText))
	b.Style = style
	return b
}

func actions(bs ...*slack.ButtonBlockElement) *slack.ActionBlock {
	els := make([]slack.BlockElement, 0, len(bs))
	for _, b := range bs {
		if len(els) < maxActions {
			els = append(els, b)
		}
	}
	return slack.NewActionBlock("", els...)
}

// confirm asks before a button does something that cannot be undone.
func confirm(title, text, yes string) *slack.ConfirmationBlockObject {
	return slack.NewConfirmationBlockObject(plain(title, 100), plain(text, 300), plain(yes, 30), plain("Cancel", 30))
}

// page gathers blocks for a message or view that must stay within a block
// limit, such as a list of many requests.
type page struct {
	blocks []slack.Block
}

func (p *page) add(bs ...slack.Block) { p.blocks = append(p.blocks, bs...) }

// items adds the blocks of as many items as fit in budget blocks, one item
// at a time, and ends with a line saying how many were left out. It always
// keeps one block free for that line while items remain.
func (p *page) items(n, budget int, item func(i int) []slack.Block, more func(left int) string) {
	used := 0
	for i := range n {
		bs := item(i)
		need := len(bs)
		if i < n-1 {
			need++ // room for the "and N more" line
		}
		if used+need > budget {
			if budget-used >= 1 {
				p.add(note(more(n - i)))
			}
			return
		}
		p.add(bs...)
		used += len(bs)
	}
}

// share divides total blocks among groups that need needs[i] blocks each:
// equal shares first, then what a small group leaves over goes to the
// others, so that one long list cannot crowd out the rest.
func share(total int, needs []int) []int {
	out := make([]int, len(needs))
	var open []int
	for i, n := range needs {
		if n > 0 {
			open = append(open, i)
		}
	}
	for total > 0 && len(open) > 0 {
		each := max(total/len(open), 1)
		next := open[:0]
		for _, i := range open {
			give := min(each, needs[i]-out[i], total)
			out[i] += give
			total -= give
			if out[i] < needs[i] {
				next = append(next, i)
			}
		}
		open = next
	}
	return out
}
