package main

import (
	"os"
	"slices"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestSlackAppManifest checks the manifest an admin pastes to create the
// app: Socket Mode, the /jit command, interactivity for buttons and
// modals, App Home with its event, and every bot scope the Web API methods
// jitbot calls need.
func TestSlackAppManifest(t *testing.T) {
	data, err := os.ReadFile("../../deploy/slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			AppHome struct {
				HomeTabEnabled bool `yaml:"home_tab_enabled"`
			} `yaml:"app_home"`
			SlashCommands []struct {
				Command      string `yaml:"command"`
				ShouldEscape bool   `yaml:"should_escape"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				IsEnabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest is not valid YAML: %v", err)
	}
	if !m.Settings.SocketMode {
		t.Errorf("socket_mode_enabled is false; jitbot connects only through Socket Mode")
	}
	if !m.Settings.Interactivity.IsEnabled {
		t.Errorf("interactivity is off; Approve/Deny buttons and modals need it")
	}
	if !m.Features.AppHome.HomeTabEnabled || !slices.Contains(m.Settings.Events.BotEvents, "app_home_opened") {
		t.Errorf("App Home needs home_tab_enabled and the app_home_opened event")
	}
	if !slices.Contains(m.Settings.Events.BotEvents, "user_change") {
		t.Errorf("bot events lack user_change: a user deactivated in Slack would keep their grants until the lifecycle pass")
	}
	if !slices.Contains(m.Settings.Events.BotEvents, "subteam_members_changed") {
		t.Errorf("bot events lack subteam_members_changed: changes of the catalog's user groups would not be audited")
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/jit" {
		t.Errorf("slash commands = %+v, want exactly /jit", m.Features.SlashCommands)
	} else if !m.Features.SlashCommands[0].ShouldEscape {
		t.Error("/jit has should_escape off: --for @person would arrive as plain text, which names nobody for sure")
	}
	// The scopes of the methods jitbot calls: chat.postMessage, chat.update
	// (chat:write), DMs (im:write), users.info (users:read, and
	// users:read.email for profile.email), usergroups.list and
	// usergroups.users.list (usergroups:read), conversations.history of
	// the audit channel for audit verify's anchors (channels:history,
	// groups:history), the chart /jit report uploads (files:write), and
	// the command itself.
	scopes := []string{"commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read",
		"channels:history", "groups:history", "files:write"}
	for _, scope := range scopes {
		if !slices.Contains(m.OAuth.Scopes.Bot, scope) {
			t.Errorf("bot scope %s missing", scope)
		}
	}
	if extra := len(m.OAuth.Scopes.Bot) - len(scopes); extra > 0 {
		t.Errorf("manifest asks for %d scope(s) more than jitbot uses: %v", extra, m.OAuth.Scopes.Bot)
	}
}

// TestSlackAppManifestHTTP checks the manifest of HTTP mode: Socket Mode
// off, the request URLs of the three endpoints on one HTTPS host, and
// otherwise the very same app as the Socket Mode manifest (so scopes,
// command and events cannot drift apart). TestHTTPMode posts to these
// URLs, so they are the paths jitbot serves.
func TestSlackAppManifestHTTP(t *testing.T) {
	load := func(path string) map[string]any {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s is not valid YAML: %v", path, err)
		}
		return m
	}
	socket, http := load("../../deploy/slack-app-manifest.yaml"), load("../../deploy/slack-app-manifest-http.yaml")
	object := func(m map[string]any, key string) map[string]any {
		v, _ := m[key].(map[string]any)
		if v == nil {
			t.Fatalf("manifest has no %s", key)
		}
		return v
	}
	settings, features := object(http, "settings"), object(http, "features")
	commands, _ := features["slash_commands"].([]any)
	if len(commands) != 1 {
		t.Fatalf("slash_commands = %v", features["slash_commands"])
	}
	urls := map[string]struct {
		in   map[string]any
		path string
	}{
		"slash command": {commands[0].(map[string]any), "/slack/commands"},
		"interactivity": {object(settings, "interactivity"), "/slack/interactivity"},
		"events":        {object(settings, "event_subscriptions"), "/slack/events"},
	}
	for what, u := range urls {
		got, _ := u.in["url"].(string)
		if what != "slash command" {
			got, _ = u.in["request_url"].(string)
		}
		if want := "https://jitbot.example.com" + u.path; got != want {
			t.Errorf("%s request URL = %q, want %q (Slack posts only to HTTPS)", what, got, want)
		}
		delete(u.in, "url")
		delete(u.in, "request_url")
	}
	if settings["socket_mode_enabled"] != false {
		t.Errorf("socket_mode_enabled = %v, want false: with it on, Slack ignores the request URLs", settings["socket_mode_enabled"])
	}
	settings["socket_mode_enabled"] = true
	a, _ := yaml.Marshal(socket)
	b, _ := yaml.Marshal(http)
	if string(a) != string(b) {
		t.Errorf("the HTTP manifest differs from the Socket Mode one beyond its URLs and socket_mode_enabled:\n%s\n---\n%s", b, a)
	}
}
