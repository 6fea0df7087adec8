package statuspage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
	"github.com/ninelives-go/ninelives/telemetry"
)

// A program mounts the page under /rollout/; an operator pauses the rollout
// with the token, and the sentinel records who did.
func ExampleNew() {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 9000}, balancer.Weight{Version: "canary", Weight: 1000})
	src, err := telemetry.NewSource()
	if err != nil {
		panic(err)
	}
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	if err != nil {
		panic(err)
	}
	s, err := sentinel.New(split, src, canary, sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	defer s.Close()

	const token = "example-token-0123456789" // statuspage.NewToken() in a real program
	h, err := statuspage.New(s, token)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/rollout/", http.StripPrefix("/rollout", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	pause := func(auth string) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/rollout/api/pause",
			strings.NewReader(`{"who": "alice", "reason": "error budget alert"}`))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var res struct {
			statuspage.ControlResult
			statuspage.ErrorBody
		}
		_ = json.NewDecoder(resp.Body).Decode(&res)
		if resp.StatusCode != http.StatusOK {
			fmt.Println(resp.StatusCode, res.Error)
			return
		}
		fmt.Println(resp.StatusCode, res.Phase, res.Event.Action, "by", res.Event.Who+":", res.Event.Reason)
	}
	pause("")
	pause(token)
	pause(token)
	// Output:
	// 401 ninelives: Authorization: missing; send "Authorization: Bearer <token>"
	// 200 paused pause by alice: error budget alert
	// 409 ninelives: phase change not allowed: pause from paused to paused
}
