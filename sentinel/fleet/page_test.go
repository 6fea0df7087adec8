package fleet_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
)

// The leader serves the status page and control API of the whole fleet: a
// control through the page is a command, applied at the next tick on every
// replica and recorded in the history.
func TestLeaderServesTheFleetsPage(t *testing.T) {
	srv := startEtcd(t)
	w := newWorld(t, 2, []string{srv.Endpoint()})
	l := w.newLeader("sentinel-a", newClient(t, srv.Endpoint()))
	require.NoError(t, l.Campaign(t.Context()))
	_, err := w.tick(l, 100)
	require.NoError(t, err)
	const token = "fleet-page-token-0123456789"
	h, err := statuspage.New(l.Controller(), token)
	require.NoError(t, err)
	page := httptest.NewServer(h)
	t.Cleanup(page.Close)

	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, page.URL+statuspage.RoutePause, strings.NewReader(`{"who":"alice","reason":"from the page"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- answer{resp.StatusCode, string(b)}
	}()
	var a answer
	for i := 0; i < 50 && a.code == 0; i++ {
		select {
		case a = <-done:
		case <-time.After(20 * time.Millisecond):
			_, _ = w.tick(l, 20)
		}
	}
	require.Equal(t, http.StatusOK, a.code, a.body)
	var res statuspage.ControlResult
	require.NoError(t, json.Unmarshal([]byte(a.body), &res))
	assert.Equal(t, sentinel.PhasePaused, res.Phase)
	require.NotNil(t, res.Event)
	assert.Equal(t, "from the page", res.Event.Reason)
	assert.Equal(t, []sentinel.Phase{sentinel.PhasePaused, sentinel.PhasePaused}, w.appliedPhases())

	resp, err := http.Get(page.URL + statuspage.RouteStatus)
	require.NoError(t, err)
	defer resp.Body.Close()
	var st sentinel.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	assert.Equal(t, sentinel.PhasePaused, st.Phase)
	assert.Equal(t, "alice", st.ChangedBy)
}
