package sentinel_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
)

// pager is an alert receiver that does not answer: each Alert waits for
// its context to end.
type pager struct{}

func (pager) Alert(ctx context.Context, _ sentinel.Event) error {
	<-ctx.Done()
	return ctx.Err()
}

// Shutdown returns by its deadline however the alert receiver behaves, and
// says what it could not deliver; the sentinel then refuses every control.
func ExampleSentinel_Shutdown() {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary"})
	canary, _ := sentinel.NewCanary(sentinel.CanaryConfig{})
	s, _ := sentinel.New(split, new(sentineltest.Source), canary, sentinel.WithAlerters(pager{}), sentinel.WithLogger(quiet))
	_ = s.Abort(context.Background(), "alice", "bad build")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := s.Shutdown(ctx)
	var se *sentinel.ShutdownError
	if errors.As(err, &se) {
		fmt.Println(len(se.Undelivered), "undelivered:", se.Undelivered[0].Action, "by", se.Undelivered[0].Who)
	}
	fmt.Println(errors.Is(s.Promote(context.Background(), "bob", ""), sentinel.ErrClosed))
	// Output:
	// 1 undelivered: abort by alice
	// true
}
