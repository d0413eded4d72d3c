package doctor

import (
	"os"
	"slices"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestScopesAreTheManifests: doctor compares the bot token with Scopes,
// so Scopes must be what the app manifests ask for.
func TestScopesAreTheManifests(t *testing.T) {
	for _, file := range []string{"../../deploy/slack-app-manifest.yaml", "../../deploy/slack-app-manifest-http.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			OAuth struct {
				Scopes struct{ Bot []string } `yaml:"scopes"`
			} `yaml:"oauth_config"`
		}
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got, want := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot)), slices.Sorted(slices.Values(Scopes)); !slices.Equal(got, want) {
			t.Errorf("%s asks for %v; doctor.Scopes is %v", file, got, want)
		}
	}
}
