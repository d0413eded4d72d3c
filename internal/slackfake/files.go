package slackfake

import (
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File is a file shared through Slack's upload flow
// (files.getUploadURLExternal, a POST of the bytes to the upload URL,
// files.completeUploadExternal), which slack-go's UploadFileContext runs.
type File struct {
	ID, Name, Title string
	Channel         string // where it was shared
	ThreadTS        string
	InitialComment  string
	Data            []byte
	SharedAt        time.Time
}

// upload is a file between files.getUploadURLExternal and
// files.completeUploadExternal.
type upload struct {
	name     string
	length   int
	data     []byte
	uploaded bool
	shared   bool
}

// maxUpload bounds what the fake keeps of one file; Slack takes up to
// 1 GB, far more than a test sends.
const maxUpload = 16 << 20

// getUploadURLExternal answers files.getUploadURLExternal: an upload URL
// on the fake's own host, so that slack-go sends its token there as it
// does to Slack's.
func (s *Server) getUploadURLExternal(r *request) (map[string]any, *apiError) {
	if !slices.Contains(s.scopes, "files:write") {
		return nil, &apiError{code: "missing_scope"}
	}
	name := r.param("filename")
	length, err := strconv.Atoi(r.param("length"))
	if name == "" || err != nil || length <= 0 {
		return nil, &apiError{code: "invalid_arguments"}
	}
	if length > maxUpload {
		return nil, &apiError{code: "file_too_large"} // the fake's limit, not Slack's
	}
	if s.uploads == nil {
		s.uploads = map[string]*upload{}
	}
	id := s.nextID("F")
	s.uploads[id] = &upload{name: name, length: length}
	return map[string]any{"upload_url": s.url + "/upload/" + id, "file_id": id}, nil
}

// serveUpload takes the bytes of a file: a multipart form whose file
// part holds them, as slack-go sends it. Slack answers "OK - <size>".
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseMultipartForm(maxUpload); err != nil {
		http.Error(w, "bad upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, "bad upload: no file part", http.StatusBadRequest)
		return
	}
	data, err := io.ReadAll(io.LimitReader(f, maxUpload+1))
	f.Close()
	if err != nil {
		http.Error(w, "bad upload: "+err.Error(), http.StatusBadRequest)
		return
	}

	s.mu.Lock()
	u := s.uploads[id]
	if u != nil && !u.shared {
		u.data, u.uploaded = data, true
	}
	s.mu.Unlock()
	if u == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "OK - "+strconv.Itoa(len(data)))
}

// fileRef is one entry of files.completeUploadExternal's files argument.
type fileRef struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// parseFileRefs reads the files argument: a JSON array of at least one
// {"id":…,"title":…}, every id set.
func parseFileRefs(s string) ([]fileRef, *apiError) {
	var refs []fileRef
	if err := json.Unmarshal([]byte(s), &refs); err != nil || len(refs) == 0 {
		return nil, &apiError{code: "invalid_arguments"}
	}
	for _, f := range refs {
		if f.ID == "" {
			return nil, &apiError{code: "invalid_arguments"}
		}
	}
	return refs, nil
}

// completeUploadExternal answers files.completeUploadExternal: it shares
// uploaded files in channel_id (a channel, DM or user ID, as
// chat.postMessage takes), or keeps them private without one.
func (s *Server) completeUploadExternal(r *request) (map[string]any, *apiError) {
	refs, aerr := parseFileRefs(r.param("files"))
	if aerr != nil {
		return nil, aerr
	}
	ch := r.param("channel_id")
	if ch != "" {
		if ch, aerr = s.postChannel(ch); aerr != nil {
			return nil, aerr
		}
	}
	for _, f := range refs {
		u := s.uploads[f.ID]
		switch {
		case u == nil || u.shared:
			return nil, &apiError{code: "file_not_found"}
		case !u.uploaded:
			return nil, &apiError{code: "file_upload_not_completed"} // nothing was posted to the upload URL
		}
	}
	var out []map[string]any
	for _, f := range refs {
		u := s.uploads[f.ID]
		u.shared = true
		title := cmp.Or(f.Title, u.name)
		s.files = append(s.files, File{ID: f.ID, Name: u.name, Title: title, Channel: ch, ThreadTS: r.param("thread_ts"),
			InitialComment: r.param("initial_comment"), Data: u.data, SharedAt: r.At})
		out = append(out, map[string]any{"id": f.ID, "title": title})
	}
	return map[string]any{"files": out}, nil
}

// Files returns the files shared in channel ("" for all, a user ID for
// the bot's DM with that user), in the order they were shared.
func (s *Server) Files(channel string) []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	if channel != "" && (channel[0] == 'U' || channel[0] == 'W') {
		channel = s.dmChannel(channel)
	}
	var out []File
	for _, f := range s.files {
		if channel == "" || f.Channel == channel {
			out = append(out, f)
		}
	}
	return out
}
