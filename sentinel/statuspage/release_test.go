package statuspage_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/release"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
)

// sameBuilds says both versions serve build b1.
type sameBuilds struct{}

func (sameBuilds) Builds(context.Context) (release.Builds, error) {
	one := release.VersionBuilds{Endpoints: 1, Builds: map[string]int{"b1": 1}}
	return release.Builds{"stable": one, "canary": one}, nil
}

// A release lifecycle's page says where it stands, and between rollouts a
// control is refused as the phase's conflict.
func TestReleaseLifecycleOnThePage(t *testing.T) {
	r := newRig(t)
	life, err := release.New(r.s, sameBuilds{}, release.WithClock(r.clock), release.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	life.Tick(context.Background())
	h, err := statuspage.New(life, testToken)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	rp := doURL(t, http.MethodGet, srv.URL+statuspage.RouteStatus, "", "")
	require.Equal(t, http.StatusOK, rp.code)
	var st struct {
		Phase   string          `json:"phase"`
		Plan    []plan.Step     `json:"plan"`
		Release *release.Status `json:"release"`
	}
	require.NoError(t, json.Unmarshal(rp.body, &st))
	require.NotNil(t, st.Release)
	assert.Equal(t, release.StageWaiting, st.Release.Stage)
	assert.Contains(t, st.Release.Note, "both serve build b1")
	assert.Equal(t, "pending", st.Phase)
	assert.NotEmpty(t, st.Plan)

	rp = doURL(t, http.MethodPost, srv.URL+statuspage.RoutePause, testToken, "")
	assert.Equal(t, http.StatusConflict, rp.code)
	assert.Contains(t, rp.errorText(t), "no rollout is under way")
}
