package shadow_test

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ninelives-go/ninelives/balancer"
	. "github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// benchClient dials the fleet with every primary on stable, with the
// shadow's interceptors if s is not nil.
func benchClient(b *testing.B, f *demoserver.Fleet, s *Interceptor) demov1.DemoServiceClient {
	b.Helper()
	var specs []demoserver.VersionSpec
	for _, v := range f.Versions() {
		specs = append(specs, demoserver.VersionSpec{Version: v, Count: len(f.Servers(v))})
	}
	return benchClientOf(b, f.Target(), specs, s)
}

// benchClientOf is benchClient for a fleet known by its target and specs,
// such as one in another process.
func benchClientOf(b *testing.B, target string, specs []demoserver.VersionSpec, s *Interceptor) demov1.DemoServiceClient {
	b.Helper()
	var ws []balancer.Weight
	want := map[string]int{}
	for _, sp := range specs {
		w := 0
		if sp.Version == "stable" {
			w = balancer.TotalWeight
		}
		ws = append(ws, balancer.Weight{Version: sp.Version, Weight: w})
		want[sp.Version] = sp.Count
	}
	split := balancer.MustSplit(ws...)
	opts := []grpc.DialOption{balancer.WithSplit(split)}
	if s != nil {
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(s.UnaryClientInterceptor()),
			grpc.WithChainStreamInterceptor(s.StreamClientInterceptor()))
	}
	cc := dial(b, target, opts...)
	connect(b, cc)
	waitReady(b, split, want)
	return demov1.NewDemoServiceClient(cc)
}

func closeShadow(b *testing.B, s *Interceptor) {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(b, s.Close(ctx))
}

// BenchmarkUnaryThroughput compares calls/s with the shadow installed at
// sampling 0 against no interceptor: 64 concurrent callers, 4 servers. The
// two clients take turns in rounds of 2,000 calls, so both see the same
// background load.
func BenchmarkUnaryThroughput(b *testing.B) {
	f := startFleet(b, spec("stable", 4, demoserver.Faults{}))
	s, err := New(Config{Candidate: "canary", Rate: 0})
	require.NoError(b, err)
	defer closeShadow(b, s)
	req := &demov1.GetItemRequest{Id: "a"}
	call := func(c demov1.DemoServiceClient) func(context.Context) error {
		return func(ctx context.Context) error { _, err := c.GetItem(ctx, req); return err }
	}
	demotest.Paired(b, 2000, 64, [2]demotest.Side{
		{Name: "none", Call: call(benchClient(b, f, nil))},
		{Name: "shadow_rate_0", Call: call(benchClient(b, f, s))},
	})
}

// BenchmarkShadowLatency compares the primary's latency with every call
// shadowed to a slow candidate (20 ms a call) against no shadowing, under an
// open load of 1,000 calls/s (each call starts on a fixed schedule, as a
// service's clients would), 2 stable and 2 canary servers. The servers run
// in a process of their own, as they would in production, so that the
// client's costs are the client's alone.
//
// A third side, bare_copy, is the floor of any shadowing in the client: after
// each call it makes the same call again to the candidate on a goroutine of
// its own and throws the reply away, with nothing compared, no deadline and
// no bookkeeping. What the shadow costs beyond it is the shadow's own.
//
// The sides take turns in rounds of 200 calls, in orders in which each
// side follows each other equally often; after each round of a side that
// copies, the copies still in flight are waited for, so that they do not
// load the next side's round. Copies that did not fit in the bound of 64
// would be dropped (at this rate about 20 are in flight). Besides the
// latencies, each side reports the client's CPU time and heap bytes
// allocated per call; the ratios shadow/bare_copy are the goals'.
func BenchmarkShadowLatency(b *testing.B) {
	specs := []demoserver.VersionSpec{
		spec("stable", 2, demoserver.Faults{}),
		spec("canary", 2, demoserver.Faults{Latency: 20 * time.Millisecond}),
	}
	target := demotest.FleetProcess(b, specs...)
	s, err := New(Config{Candidate: "canary", Rate: 1, IgnoreFields: []string{"served_by", "generated_at"}})
	require.NoError(b, err)
	req := &demov1.GetItemRequest{Id: "a"}
	call := func(c demov1.DemoServiceClient) func(context.Context) error {
		return func(ctx context.Context) error { _, err := c.GetItem(ctx, req); return err }
	}
	wait := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(b, s.Wait(ctx))
	}
	demotest.PairedLatency(b, 1000, 200,
		demotest.Side{Name: "off", Call: call(benchClientOf(b, target, specs, nil))},
		bareCopy(b, benchClientOf(b, target, specs, nil), req),
		demotest.Side{Name: "shadow", Call: call(benchClientOf(b, target, specs, s)), After: wait})
	closeShadow(b, s)
	st := s.Stats()
	b.ReportMetric(float64(st.Comparisons[ResultMatch]), "copies-compared")
	var dropped int64
	for _, n := range st.Dropped {
		dropped += n
	}
	b.ReportMetric(float64(dropped), "copies-dropped")
}

// bareCopy is the side that copies each call to the canary by hand, at
// most 64 at a time, and waits for its copies after each round.
func bareCopy(b *testing.B, c demov1.DemoServiceClient, req *demov1.GetItemRequest) demotest.Side {
	slots := make(chan struct{}, 64)
	return demotest.Side{
		Name: "bare_copy",
		Call: func(ctx context.Context) error {
			_, err := c.GetItem(ctx, req)
			select {
			case slots <- struct{}{}:
				go func() {
					defer func() { <-slots }()
					if _, err := c.GetItem(balancer.ForceVersion(context.WithoutCancel(ctx), "canary"), &demov1.GetItemRequest{Id: req.Id}); err != nil {
						b.Error(err)
					}
				}()
			default:
			}
			return err
		},
		After: func() { // take every slot, then give them back
			for range cap(slots) {
				slots <- struct{}{}
			}
			for range cap(slots) {
				<-slots
			}
		},
	}
}

// BenchmarkShadowOwnCost is the interceptor's own work for one shadowed
// call, with no network: an invoker that does what grpc does with the
// messages (it marshals the request and decodes a canned reply with the
// call's codec, in a buffer of grpc's pool) stands for grpc, for the
// primary and for its copy alike, so what is left is the sampling, the
// hand-over to a worker, the copy's context and the comparison (here a
// match once served_by and generated_at, which differ, are ignored). The side "none" is
// the same call with no interceptor; the two sides take turns in rounds of
// 64 calls (the default bound of copies in flight), and the shadow's
// rounds end once its copies are done. Each side reports ns/call (wall
// clock, its copies included), path-ns/call (the wall clock of the calls
// alone: what a caller waits), cpu-ns/call (the process's CPU time, which
// counts the workers' and the garbage collector's work and which a busy
// machine inflates less than the wall clock) and allocs/call; own-* are
// shadow minus none.
func BenchmarkShadowOwnCost(b *testing.B) {
	s, sides := ownCostSides(b)
	pairedOwnCost(b, 64, sides)
	checkOwnCopies(b, s, b.N+64) // the warm-up round too
}

// BenchmarkShadowOwnCostAlone runs each side of BenchmarkShadowOwnCost on
// its own, in the same rounds: for counting the instructions of one side
// (under valgrind's callgrind, say), which the machine's load does not
// move as it moves the clocks.
func BenchmarkShadowOwnCostAlone(b *testing.B) {
	for i, name := range []string{"none", "shadow"} {
		b.Run(name, func(b *testing.B) {
			s, sides := ownCostSides(b)
			sd := &sides[i]
			sd.run(b, 64) // warm up
			b.ResetTimer()
			for done := 0; done < b.N; done += 64 {
				sd.run(b, min(64, b.N-done))
			}
			b.StopTimer()
			b.ReportMetric(float64(sd.allocs)/float64(b.N+64), "allocs/call")
			if i == 1 {
				checkOwnCopies(b, s, b.N+64)
			}
		})
	}
}

// ownCostSides returns the shadow and the two sides of
// BenchmarkShadowOwnCost.
func ownCostSides(b *testing.B) (*Interceptor, *[2]ownSide) {
	invoker := cannedInvoker(cannedReply(b, "stable", 5), cannedReply(b, "canary", 6))
	s, err := New(Config{Candidate: "canary", Rate: 1, IgnoreFields: []string{"served_by", "generated_at"}})
	require.NoError(b, err)
	b.Cleanup(func() { closeShadow(b, s) })
	unary := s.UnaryClientInterceptor()
	req := &demov1.GetItemRequest{Id: "a"}
	const method = "/ninelives.demo.v1.DemoService/GetItem"
	return s, &[2]ownSide{
		{name: "none", call: func() error {
			return invoker(context.Background(), method, req, &demov1.GetItemResponse{}, nil)
		}},
		{name: "shadow", call: func() error {
			return unary(context.Background(), method, req, &demov1.GetItemResponse{}, nil, invoker)
		}, after: func() { require.NoError(b, s.Wait(context.Background())) }},
	}
}

// cannedReply is the wire form of the reply a server of version gives,
// generated at nanosecond nanos.
func cannedReply(b *testing.B, version string, nanos int64) []byte {
	data, err := proto.Marshal(&demov1.GetItemResponse{
		Item:        &demov1.Item{Id: "a", Name: "item a", PriceCents: 3197, Tags: []string{"demo", "new"}},
		ServedBy:    &demov1.ServedBy{Version: version, Instance: version + "-0"},
		GeneratedAt: timestamppb.New(time.Unix(100, nanos)),
	})
	require.NoError(b, err)
	return data
}

// cannedInvoker stands for grpc: it marshals the request and decodes a
// canned reply with the call's codec, in a buffer of grpc's pool; the
// reply is primary's for a primary call and copy's, which differs in the
// ignored fields alone, for a copy.
func cannedInvoker(primary, copy []byte) grpc.UnaryInvoker {
	return func(ctx context.Context, _ string, req, reply any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
		codec := encoding.GetCodecV2("proto")
		for _, o := range opts {
			if f, ok := o.(grpc.ForceCodecV2CallOption); ok {
				codec = f.CodecV2
			}
		}
		data, err := codec.Marshal(req)
		if err != nil {
			return err
		}
		data.Free()
		canned := primary
		if call.RoleOf(ctx) == call.Shadow {
			canned = copy
		}
		in := mem.Copy(canned, mem.DefaultBufferPool())
		defer in.Free()
		return codec.Unmarshal(mem.BufferSlice{in}, reply)
	}
}

// checkOwnCopies fails b unless every one of n copies matched.
func checkOwnCopies(b *testing.B, s *Interceptor, n int) {
	if st := s.Stats(); st.Comparisons[ResultMatch] != int64(n) {
		b.Fatalf("%d of %d copies matched: %+v", st.Comparisons[ResultMatch], n, st)
	}
}

// ownSide is one side of BenchmarkShadowOwnCost and what its rounds took.
type ownSide struct {
	name       string
	call       func() error
	after      func() // ends a round, on the clock
	wall, path time.Duration
	cpu        time.Duration
	allocs     uint64
}

// pairedOwnCost makes b.N calls on each side, in turns of round calls,
// and reports each side's costs per call and the second's less the first's.
func pairedOwnCost(b *testing.B, round int, sides *[2]ownSide) {
	for i := range sides { // warm up
		sides[i].run(b, round)
		sides[i].wall, sides[i].path, sides[i].cpu, sides[i].allocs = 0, 0, 0, 0
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		for i := range sides {
			sides[i].run(b, n)
		}
	}
	b.StopTimer()
	per := func(x float64) float64 { return x / float64(b.N) }
	for _, sd := range sides {
		b.ReportMetric(per(float64(sd.wall)), sd.name+"-ns/call")
		b.ReportMetric(per(float64(sd.path)), sd.name+"-path-ns/call")
		b.ReportMetric(per(float64(sd.cpu)), sd.name+"-cpu-ns/call")
		b.ReportMetric(per(float64(sd.allocs)), sd.name+"-allocs/call")
	}
	b.ReportMetric(per(float64(sides[1].wall-sides[0].wall)), "own-ns/call")
	b.ReportMetric(per(float64(sides[1].path-sides[0].path)), "own-path-ns/call")
	b.ReportMetric(per(float64(sides[1].cpu-sides[0].cpu)), "own-cpu-ns/call")
	b.ReportMetric(per(float64(sides[1].allocs)-float64(sides[0].allocs)), "own-allocs/call")
}

// run makes n calls and adds what they took.
func (sd *ownSide) run(b *testing.B, n int) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(sample)
	a0 := sample[0].Value.Uint64()
	c0, _ := demotest.CPUTime()
	t0 := time.Now()
	for range n {
		if err := sd.call(); err != nil {
			b.Fatal(err)
		}
	}
	sd.path += time.Since(t0)
	if sd.after != nil {
		sd.after()
	}
	sd.wall += time.Since(t0)
	c1, _ := demotest.CPUTime()
	sd.cpu += c1 - c0
	metrics.Read(sample)
	sd.allocs += sample[0].Value.Uint64() - a0
}
