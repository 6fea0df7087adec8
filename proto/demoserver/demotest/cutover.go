package demotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/call"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// The bounds of a cut-over load: how long it may run, in all and per call,
// and how many rounds a caller makes at most. They guard against a hang;
// nothing is asserted about time.
const (
	cutoverTimeout = 2 * time.Minute
	maxRounds      = 20000
)

// CutoverConfig is the load a Cutover runs across a cut-over.
type CutoverConfig struct {
	// From and To are the versions the traffic moves from and to: From
	// must have all of it when the load starts.
	From, To string
	// Callers is how many goroutines make calls without pause, each round
	// a GetItem, a ListItems of three items and an Echo of two messages.
	Callers int
	// After is how many rounds each caller makes that begin after the
	// cut-over before Finish stops the load (default 5).
	After int
	// Held is how many streams, Echo and CountItems in turn, are opened
	// before the cut-over and finished after it, with one message each way
	// on either side of it (default 8).
	Held int
}

// Cutover runs calls of every kind on a client without pause while the
// weights of its split move all the traffic from one version to another,
// by whatever means (SetWeights, a sentinel), and checks each call by the
// split's generation: the weights' generation read before a call starts
// and once its version is picked (after a unary call returns, or a
// stream's NewStream returns, since grpc picks inside it). A call that
// starts at or after the cut-over's generation must reach To, as the
// picker reads that generation's weights or newer; one picked before it,
// From, and a stream picked before it must finish normally there.
type Cutover struct {
	t     testing.TB
	cc    *grpc.ClientConn
	split *balancer.Split
	cfg   CutoverConfig

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stopCh chan struct{}
	once   sync.Once

	flipGen atomic.Uint64 // the first generation in which To has all the traffic; 0 before
	flipped chan struct{}
	stopW   func()

	mu       sync.Mutex
	calls    []cutCall
	reverted []string // weights seen after the cut-over that leave To
	rounds   []int    // per caller: rounds done
	after    []int    // per caller: rounds begun after the cut-over
	progress chan struct{}
}

// cutCall is one call or stream as the load saw it.
type cutCall struct {
	kind               string
	start, opened, end uint64   // the split's generation at each point
	plain              bool     // made without a call record
	version            string   // where the call record says the call went
	served             []string // the version of each reply
	want               int      // replies a normal end has
	err                error
}

// StartCutover starts the load on cc, whose calls split steers: it opens
// the held streams and starts the callers, and returns at once. The load
// stops when Finish returns or the test ends.
func StartCutover(t testing.TB, cc *grpc.ClientConn, split *balancer.Split, cfg CutoverConfig) *Cutover {
	t.Helper()
	if cfg.After == 0 {
		cfg.After = 5
	}
	if cfg.Held == 0 {
		cfg.Held = 8
	}
	if w := split.Weight(cfg.From); w != balancer.TotalWeight {
		t.Fatalf("demotest: the cut-over load starts with all the traffic on %s, which has %d of %d", cfg.From, w, balancer.TotalWeight)
	}
	c := &Cutover{t: t, cc: cc, split: split, cfg: cfg, stopCh: make(chan struct{}), flipped: make(chan struct{}),
		rounds: make([]int, cfg.Callers), after: make([]int, cfg.Callers), progress: make(chan struct{})}
	c.ctx, c.cancel = context.WithTimeout(context.Background(), cutoverTimeout)
	c.stopW = split.Watch(c.watch)
	t.Cleanup(c.stop)
	for i := range cfg.Held {
		c.openHeld(i)
	}
	for i := range cfg.Callers {
		c.wg.Go(func() { c.caller(i) })
	}
	return c
}

// watch follows the weights. It runs under the split's lock, right after
// the new weights are stored, so the generation it reads is theirs.
func (c *Cutover) watch(ws []balancer.Weight) {
	gen := c.split.Generation()
	toAll := slices.Contains(ws, balancer.Weight{Version: c.cfg.To, Weight: balancer.TotalWeight})
	switch {
	case c.flipGen.Load() == 0 && toAll:
		c.flipGen.Store(gen)
		close(c.flipped)
	case c.flipGen.Load() != 0 && !toAll:
		c.mu.Lock()
		c.reverted = append(c.reverted, fmt.Sprintf("generation %d: %v", gen, ws))
		c.mu.Unlock()
	}
}

// stop ends the load and waits for every goroutine of it.
func (c *Cutover) stop() {
	c.once.Do(func() {
		close(c.stopCh)
		if c.flipGen.Load() == 0 {
			c.cancel() // the held streams wait for a cut-over that will not come
		}
		c.wg.Wait()
		c.cancel()
		c.stopW()
	})
}

func (c *Cutover) gen() uint64 { return c.split.Generation() }

// record keeps the calls of a round and counts the round for caller i.
func (c *Cutover) record(i int, calls ...cutCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, calls...)
	if i < 0 {
		return
	}
	c.rounds[i]++
	if flip := c.flipGen.Load(); flip != 0 && calls[0].start >= flip {
		c.after[i]++
	}
	close(c.progress)
	c.progress = make(chan struct{})
}

func (c *Cutover) caller(i int) {
	client := demov1.NewDemoServiceClient(c.cc)
	for range maxRounds {
		select {
		case <-c.stopCh:
			return
		default:
		}
		plain := i%2 == 1
		c.record(i, c.getItem(client, plain), c.listItems(client, plain), c.echo(client, plain))
	}
}

// callCtx is the context of one call, and the function that tells where
// its call record says it went: with a record, or plain, as most calls
// are made, so that the picker takes its common path (then the replies
// alone say where it went, and the function returns "").
func (c *Cutover) callCtx(plain bool) (context.Context, func() string) {
	if plain {
		return c.ctx, func() string { return "" }
	}
	ctx, rec := call.WithRecord(c.ctx)
	return ctx, rec.Version
}

func (c *Cutover) getItem(client demov1.DemoServiceClient, plain bool) cutCall {
	ctx, sentTo := c.callCtx(plain)
	x := cutCall{kind: "GetItem", plain: plain, want: 1, start: c.gen()}
	resp, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "cutover"})
	x.opened = c.gen()
	x.end, x.version, x.err = x.opened, sentTo(), err
	if err == nil {
		x.served = append(x.served, resp.GetServedBy().GetVersion())
	}
	return x
}

func (c *Cutover) listItems(client demov1.DemoServiceClient, plain bool) (x cutCall) {
	ctx, sentTo := c.callCtx(plain)
	x = cutCall{kind: "ListItems", plain: plain, want: 3, start: c.gen()}
	defer func() { x.end, x.version = c.gen(), sentTo() }()
	stream, err := client.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 3, Prefix: "cutover-"})
	x.opened = c.gen()
	if err != nil {
		x.err = fmt.Errorf("opening: %w", err)
		return x
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return x
		}
		if err != nil {
			x.err = fmt.Errorf("after %d items: %w", len(x.served), err)
			return x
		}
		x.served = append(x.served, resp.GetServedBy().GetVersion())
	}
}

func (c *Cutover) echo(client demov1.DemoServiceClient, plain bool) (x cutCall) {
	ctx, sentTo := c.callCtx(plain)
	x = cutCall{kind: "Echo", plain: plain, want: 2, start: c.gen()}
	defer func() { x.end, x.version = c.gen(), sentTo() }()
	stream, err := client.Echo(ctx)
	x.opened = c.gen()
	if err != nil {
		x.err = fmt.Errorf("opening: %w", err)
		return x
	}
	for range x.want {
		if x.err = echoOnce(stream, &x); x.err != nil {
			return x
		}
	}
	x.err = closeEcho(stream)
	return x
}

// echoOnce sends one message on an Echo stream and reads its answer.
func echoOnce(stream grpc.BidiStreamingClient[demov1.EchoRequest, demov1.EchoResponse], x *cutCall) error {
	if err := stream.Send(&demov1.EchoRequest{Text: "cutover"}); err != nil {
		return fmt.Errorf("sending message %d: %w", len(x.served)+1, err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("answer %d: %w", len(x.served)+1, err)
	}
	x.served = append(x.served, resp.GetServedBy().GetVersion())
	return nil
}

// closeEcho half-closes an Echo stream and waits for its normal end.
func closeEcho(stream grpc.BidiStreamingClient[demov1.EchoRequest, demov1.EchoResponse]) error {
	if err := stream.CloseSend(); err != nil {
		return fmt.Errorf("closing: %w", err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("after closing: want the stream's end, got %v", err)
	}
	return nil
}

// openHeld opens held stream i, Echo or CountItems, and exchanges its first
// message; a goroutine finishes it once the cut-over has come.
func (c *Cutover) openHeld(i int) {
	x := cutCall{plain: i%4 >= 2, start: c.gen(), want: 2}
	ctx, sentTo := c.callCtx(x.plain)
	client := demov1.NewDemoServiceClient(c.cc)
	var finish func() error
	var err error
	if i%2 == 0 {
		x.kind = "held Echo"
		finish, err = c.openHeldEcho(ctx, client, &x)
	} else {
		x.kind = "held CountItems"
		finish, err = c.openHeldCount(ctx, client, &x)
	}
	if err != nil {
		x.err, x.end, x.version = err, c.gen(), sentTo()
		c.record(-1, x)
		return
	}
	c.wg.Go(func() {
		select {
		case <-c.flipped:
			x.err = finish()
		case <-c.ctx.Done():
			x.err = errors.New("the cut-over never came")
		}
		x.end, x.version = c.gen(), sentTo()
		c.record(-1, x)
	})
}

func (c *Cutover) openHeldEcho(ctx context.Context, client demov1.DemoServiceClient, x *cutCall) (func() error, error) {
	stream, err := client.Echo(ctx)
	x.opened = c.gen()
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	if err := echoOnce(stream, x); err != nil {
		return nil, err
	}
	return func() error {
		if err := echoOnce(stream, x); err != nil {
			return err
		}
		return closeEcho(stream)
	}, nil
}

// openHeldCount opens a CountItems stream and sends one id; the rest sends
// another, closes it and takes its one reply, which must count both.
func (c *Cutover) openHeldCount(ctx context.Context, client demov1.DemoServiceClient, x *cutCall) (func() error, error) {
	stream, err := client.CountItems(ctx)
	x.opened = c.gen()
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	if err := stream.Send(&demov1.CountItemsRequest{Id: "before"}); err != nil {
		return nil, fmt.Errorf("sending before the cut-over: %w", err)
	}
	x.want = 1
	return func() error {
		if err := stream.Send(&demov1.CountItemsRequest{Id: "after"}); err != nil {
			return fmt.Errorf("sending after the cut-over: %w", err)
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			return fmt.Errorf("closing: %w", err)
		}
		if resp.GetCount() != 2 {
			return fmt.Errorf("the server counted %d ids, want 2", resp.GetCount())
		}
		x.served = append(x.served, resp.GetServedBy().GetVersion())
		return nil
	}, nil
}

// WaitRounds waits until every caller has made n more rounds.
func (c *Cutover) WaitRounds(n int) {
	c.t.Helper()
	c.mu.Lock()
	want := make([]int, len(c.rounds))
	for i, r := range c.rounds {
		want[i] = r + n
	}
	c.mu.Unlock()
	c.waitFor(fmt.Sprintf("%d more rounds of every caller", n), func() bool {
		for i, r := range c.rounds {
			if r < want[i] {
				return false
			}
		}
		return true
	})
}

// waitFor waits until done, called with c.mu held, is true, and fails the
// test if the load's time runs out first.
func (c *Cutover) waitFor(what string, done func() bool) {
	c.t.Helper()
	for {
		c.mu.Lock()
		ok, ch := done(), c.progress
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-c.ctx.Done():
			c.t.Fatalf("demotest: the cut-over load did not reach %s within %v (weights %s)", what, cutoverTimeout, c.split)
		}
	}
}

// CutoverReport counts the calls of a cut-over load by where they stand to
// the cut-over.
type CutoverReport struct {
	// Generation is the split's generation that gave To all the traffic.
	Generation uint64
	// Calls counts every call and stream, held ones included.
	Calls int
	// Before counts those picked before the cut-over, After those begun
	// after it, and Across the streams picked before it that ended after
	// it, held ones included.
	Before, After, Across int
}

// Finish waits for the cut-over and then for After rounds of every caller
// begun after it, stops the load, and checks every call: none failed,
// every one begun after the cut-over reached To, every one picked before
// it stayed on From and ended normally, and the weights never left To
// again. A check that fails fails the test, naming the calls.
func (c *Cutover) Finish() CutoverReport {
	c.t.Helper()
	select {
	case <-c.flipped:
	case <-c.ctx.Done():
		c.t.Fatalf("demotest: %s never had all the traffic within %v (weights %s)", c.cfg.To, cutoverTimeout, c.split)
	}
	c.waitFor(fmt.Sprintf("%d rounds begun after the cut-over by every caller", c.cfg.After), func() bool {
		return !slices.ContainsFunc(c.after, func(n int) bool { return n < c.cfg.After })
	})
	c.stop()
	return c.check()
}

func (c *Cutover) check() CutoverReport {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	flip := c.flipGen.Load()
	r := CutoverReport{Generation: flip, Calls: len(c.calls)}
	var problems []string
	for _, x := range c.calls {
		r.count(x, flip)
		if p := c.problem(x, flip); p != "" {
			problems = append(problems, p)
		}
	}
	for _, w := range c.reverted {
		problems = append(problems, "the weights left "+c.cfg.To+" after the cut-over: "+w)
	}
	if len(problems) > 0 {
		c.t.Errorf("demotest: %d problems among %d calls across the cut-over from %s to %s (generation %d); the first:\n  %s",
			len(problems), len(c.calls), c.cfg.From, c.cfg.To, flip, joinFirst(problems, 10))
	}
	return r
}

func (r *CutoverReport) count(x cutCall, flip uint64) {
	switch {
	case x.start >= flip:
		r.After++
	case x.opened < flip:
		r.Before++
		if x.end >= flip {
			r.Across++
		}
	}
}

// problem says what is wrong with a call, "" if nothing.
func (c *Cutover) problem(x cutCall, flip uint64) string {
	sent := fmt.Sprintf("sent to %q", x.version)
	if x.plain {
		sent = "no call record"
	}
	desc := fmt.Sprintf("%s (generation %d at its start, %d once picked, %d at its end; %s, replies from %v)",
		x.kind, x.start, x.opened, x.end, sent, x.served)
	switch {
	case x.err != nil:
		return desc + " failed: " + x.err.Error()
	case len(x.served) != x.want:
		return fmt.Sprintf("%s ended with %d replies, want %d", desc, len(x.served), x.want)
	case x.start >= flip && !servedAll(x, c.cfg.To):
		return desc + " began after the cut-over but did not reach " + c.cfg.To
	case x.opened < flip && !servedAll(x, c.cfg.From):
		return desc + " was picked before the cut-over but did not stay on " + c.cfg.From
	case !x.plain && !servedAll(x, x.version):
		return desc + ": the replies disagree with the call record"
	}
	return ""
}

// servedAll reports whether the call was sent to version, as far as its
// record says, and every reply came from it.
func servedAll(x cutCall, version string) bool {
	return (x.plain || x.version == version) && !slices.ContainsFunc(x.served, func(v string) bool { return v != version })
}

func joinFirst(lines []string, n int) string {
	return strings.Join(lines[:min(n, len(lines))], "\n  ")
}
