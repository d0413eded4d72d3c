package slackfake_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// TestUploadFile: slack-go's three-step upload lands the file, bytes and
// all, in the DM it names.
func TestUploadFile(t *testing.T) {
	s := slackfake.Start(t)
	s.AddUser(slackfake.User{ID: "U0ALICE", Name: "alice"})
	ctx := context.Background()
	data := bytes.Repeat([]byte("chart "), 1000)
	f, err := client(s).UploadFileContext(ctx, slack.UploadFileParameters{
		Reader: bytes.NewReader(data), FileSize: len(data), Filename: "chart.png", Title: "Requests per day",
		Channel: "U0ALICE", InitialComment: "the chart",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Files("U0ALICE")
	if len(got) != 1 || got[0].ID != f.ID || got[0].Title != "Requests per day" || got[0].Name != "chart.png" ||
		!bytes.Equal(got[0].Data, data) || got[0].InitialComment != "the chart" || got[0].Channel != s.DMChannel("U0ALICE") {
		t.Errorf("files in alice's DM = %+v", got)
	}
	if other := s.Files("C0OTHER"); len(other) != 0 {
		t.Errorf("files in another channel: %+v", other)
	}
}

func TestUploadFileRefused(t *testing.T) {
	ctx := context.Background()
	params := func() slack.UploadFileParameters {
		return slack.UploadFileParameters{Reader: strings.NewReader("png"), FileSize: 3, Filename: "c.png", Channel: "C0AUDIT"}
	}

	noScope := slackfake.Start(t, slackfake.WithScopes("chat:write"))
	if _, err := client(noScope).UploadFileContext(ctx, params()); slackError(err) != "missing_scope" {
		t.Errorf("without files:write: %v, want missing_scope", err)
	}

	s := slackfake.Start(t)
	u, err := client(s).GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "c.png", FileSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	complete := func(id, channel string) error {
		_, err := client(s).CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
			Files: []slack.FileSummary{{ID: id}}, Channel: channel})
		return err
	}
	if err := complete(u.FileID, "C0AUDIT"); slackError(err) != "file_upload_not_completed" {
		t.Errorf("completed before the bytes were sent: %v", err)
	}
	if err := complete("F0NOSUCH", "C0AUDIT"); slackError(err) != "file_not_found" {
		t.Errorf("an unknown file: %v", err)
	}
	if err := client(s).UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: u.UploadURL, Content: "png", Filename: "c.png"}); err != nil {
		t.Fatal(err)
	}
	if err := complete(u.FileID, "DNOSUCH"); slackError(err) != "channel_not_found" {
		t.Errorf("a DM nobody has: %v", err)
	}
	if err := complete(u.FileID, "C0AUDIT"); err != nil {
		t.Fatal(err)
	}
	if err := complete(u.FileID, "C0AUDIT"); slackError(err) != "file_not_found" {
		t.Errorf("shared twice: %v", err)
	}
	if got := s.Files("C0AUDIT"); len(got) != 1 || string(got[0].Data) != "png" {
		t.Errorf("files in C0AUDIT = %+v", got)
	}
}
