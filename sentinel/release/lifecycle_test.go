package release_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/release"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeBuilds is a BuildSource the test sets by hand.
type fakeBuilds struct {
	mu  sync.Mutex
	b   release.Builds
	err error
}

// set makes stable's endpoints serve base and canary's cand; a build given
// as "b1,b2" spreads over two endpoints.
func (f *fakeBuilds) set(base, cand []string) {
	vb := func(builds []string) release.VersionBuilds {
		v := release.VersionBuilds{Endpoints: len(builds), Builds: map[string]int{}}
		for _, b := range builds {
			v.Builds[b]++
		}
		return v
	}
	f.mu.Lock()
	f.b, f.err = release.Builds{"stable": vb(base), "canary": vb(cand)}, nil
	f.mu.Unlock()
}

func (f *fakeBuilds) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeBuilds) Builds(context.Context) (release.Builds, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b, f.err
}

func expHist(n uint64, v float64) telemetry.Histogram {
	idx := int32(math.Ceil(math.Log2(v)*8)) - 1
	return telemetry.Histogram{Count: n, Sum: float64(n) * v, Min: v, Max: v, Scale: 3, Offset: idx, Counts: []uint64{n}}
}

// window is one tick's calls: canErrs of the canary's calls fail.
func window(base, cand, candErrs int64) *telemetry.Window {
	w := &telemetry.Window{}
	for v, n := range map[string]int64{"stable": base, "canary": cand} {
		if n == 0 {
			continue
		}
		r := w.MutableVersion(v).MutableRole(balancer.RolePrimary)
		r.Calls, r.Latency = n, expHist(uint64(n), 0.02)
		if v == "canary" {
			r.Errors = candErrs
		}
	}
	return w
}

type rig struct {
	t      *testing.T
	split  *balancer.Split
	src    *sentineltest.Source
	clock  *sentineltest.Clock
	builds *fakeBuilds
	life   *release.Lifecycle
}

func newRig(t *testing.T, opts ...release.Option) *rig {
	r := &rig{t: t, split: balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary"}),
		src: new(sentineltest.Source), clock: sentineltest.NewClock(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)), builds: &fakeBuilds{}}
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 2 * time.Second, MinStepCalls: 50})
	require.NoError(t, err)
	s, err := sentinel.New(r.split, r.src, c, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	r.life, err = release.New(s, r.builds, append([]release.Option{release.WithClock(r.clock), release.WithLogger(quiet)}, opts...)...)
	require.NoError(t, err)
	return r
}

// tick is one round with calls split by the weights; the canary fails
// failPct of its calls.
func (r *rig) tick(failPct int64) sentinel.Event {
	r.clock.Advance(time.Second)
	cand := int64(r.split.Weight("canary")) / 10
	r.src.Set(window(1000-cand, cand, cand*failPct/100), nil)
	return r.life.Tick(context.Background())
}

// until ticks until the lifecycle reaches stage, at most n rounds.
func (r *rig) until(stage release.Stage, failPct int64, n int) {
	r.t.Helper()
	for range n {
		if r.tick(failPct); r.life.Release().Stage == stage {
			return
		}
	}
	r.t.Fatalf("not %s after %d rounds: %+v", stage, n, r.life.Release())
}

func actions(evs []sentinel.Event) []sentinel.Action {
	var out []sentinel.Action
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

var one = []string{"b1"}

// Three releases on one Split: b2 is promoted and finalized once stable
// serves it, b3 is rolled back and not judged again, b4 begins when it is
// behind the canary.
func TestReleaseAfterRelease(t *testing.T) {
	r := newRig(t)
	r.builds.set(one, one)
	for range 3 {
		ev := r.tick(0)
		assert.Equal(t, sentinel.ActionHold, ev.Action)
	}
	rel := r.life.Release()
	assert.Equal(t, release.StageWaiting, rel.Stage)
	assert.Contains(t, rel.Note, "both serve build b1")
	assert.Equal(t, sentinel.PhasePending, r.life.Status().Phase, "nothing to roll out: the sentinel idles")

	r.builds.set(one, []string{"b2", "b2"})
	r.until(release.StageFinalizing, 0, 30)
	assert.Equal(t, sentinel.PhasePromoted, r.life.Status().Phase)
	assert.Equal(t, 10000, r.split.Weight("canary"))
	r.tick(0)
	assert.Contains(t, r.life.Release().Note, "until stable serves it")
	r.builds.set([]string{"b1", "b2"}, []string{"b2", "b2"}) // stable's deploy under way
	r.tick(0)
	assert.Equal(t, release.StageFinalizing, r.life.Release().Stage, "mixed: not yet")
	assert.Equal(t, 10000, r.split.Weight("canary"))
	r.builds.set([]string{"b2", "b2"}, []string{"b2", "b2"})
	r.tick(0)
	assert.Equal(t, release.StageWaiting, r.life.Release().Stage)
	assert.Equal(t, 10000, r.split.Weight("stable"), "finalized: the traffic is back on stable")
	st := r.life.Status()
	assert.Equal(t, sentinel.PhasePromoted, st.Phase)
	assert.Equal(t, release.ActionFinalize, st.ChangeAction)

	r.builds.set([]string{"b2", "b2"}, []string{"b3", "b3"})
	r.until(release.StageWaiting, 30, 30)
	assert.Equal(t, sentinel.PhaseRolledBack, r.life.Status().Phase)
	assert.Equal(t, 10000, r.split.Weight("stable"))
	for range 3 {
		r.tick(0)
	}
	assert.Equal(t, release.StageWaiting, r.life.Release().Stage, "b3 is not judged again")
	assert.Contains(t, r.life.Release().Note, "b3 was judged already")

	r.builds.set([]string{"b2"}, []string{"b4"})
	r.tick(0)
	rel = r.life.Release()
	assert.Equal(t, release.StageRolling, rel.Stage)
	assert.Equal(t, 3, rel.Number)
	assert.Equal(t, "b4", rel.Build)
	assert.Equal(t, "b2", rel.BaselineBuild)

	acts := actions(r.life.Status().Events)
	assert.Equal(t, []sentinel.Action{release.ActionRelease, sentinel.ActionStart, sentinel.ActionAdvance, sentinel.ActionPromote,
		release.ActionFinalize, release.ActionRelease, sentinel.ActionStart, sentinel.ActionRollback, release.ActionRelease,
		sentinel.ActionStart}, acts, "the events of every rollout")
	evs := r.life.Status().Events
	for i, e := range evs {
		assert.Equal(t, uint64(i+1), e.Seq, "renumbered over the rollouts")
	}
	assert.Len(t, r.life.EventsSince(8), 2)
}

// A rollout whose candidate starts serving another build is aborted, and
// the new build's rollout begins once the canary serves it alone.
func TestBuildChangedMidRolloutAborts(t *testing.T) {
	r := newRig(t)
	r.builds.set(one, []string{"b2"})
	r.tick(0)
	require.Equal(t, 1000, r.split.Weight("canary"))
	r.builds.set(one, []string{"b2", "b3"})
	ev := r.tick(0)
	st := r.life.Status()
	assert.Equal(t, sentinel.PhaseAborted, st.Phase)
	assert.Contains(t, st.ChangeReason, "now serves build b3, not b2")
	assert.Equal(t, 0, r.split.Weight("canary"))
	assert.Equal(t, release.StageWaiting, r.life.Release().Stage, ev.Reason)
	r.tick(0)
	assert.Contains(t, r.life.Release().Note, "waiting for canary to serve one build")
	r.builds.set(one, []string{"b3", "b3"})
	r.tick(0)
	assert.Equal(t, "b3", r.life.Release().Build)
	assert.Equal(t, 1000, r.split.Weight("canary"))
}

// Without auto-start a new build waits, paused before its first step,
// for Resume; between rollouts the controls say there is nothing to
// control.
func TestManualStartAndControlsBetweenRollouts(t *testing.T) {
	r := newRig(t, release.WithAutoStart(false))
	r.builds.set(one, one)
	r.tick(0)
	err := r.life.Pause(context.Background(), "alice", "")
	require.ErrorIs(t, err, sentinel.ErrTransition)
	assert.Contains(t, err.Error(), "no rollout is under way")

	r.builds.set(one, []string{"b2"})
	for range 3 {
		r.tick(0)
	}
	st := r.life.Status()
	assert.Equal(t, sentinel.PhasePaused, st.Phase)
	assert.Contains(t, st.ChangeReason, "resume to start it")
	assert.Equal(t, 0, r.split.Weight("canary"))
	require.NoError(t, r.life.Resume(context.Background(), "alice", "ship it"))
	r.tick(0)
	assert.Equal(t, 1000, r.split.Weight("canary"))
	assert.Equal(t, sentinel.PhaseProgressing, r.life.Status().Phase)
}

// When the builds cannot be read the lifecycle holds where it is, and
// says why.
func TestBuildsUnreadableHolds(t *testing.T) {
	r := newRig(t)
	r.builds.set(one, []string{"b2"})
	r.tick(0)
	r.builds.fail(errors.New("deploy API down"))
	r.tick(0)
	rel := r.life.Release()
	assert.Equal(t, release.StageRolling, rel.Stage)
	assert.Equal(t, "deploy API down", rel.Error)
	assert.Equal(t, 1000, r.split.Weight("canary"))
}

// Without a BuildSource a lifecycle runs one rollout, as its sentinel
// would alone.
func TestNoBuildSourceIsOneRollout(t *testing.T) {
	r := newRig(t)
	life, err := release.New(sentinelOf(t, r), nil)
	require.NoError(t, err)
	assert.Equal(t, release.StageRolling, life.Release().Stage)
	r.clock.Advance(time.Second)
	r.src.Set(window(1000, 0, 0), nil)
	assert.Equal(t, sentinel.ActionStart, life.Tick(context.Background()).Action)

	_, err = release.New(nil, nil)
	assert.ErrorIs(t, err, release.ErrBadOption)
	_, err = release.New(sentinelOf(t, r), nil, release.WithInterval(0))
	assert.ErrorContains(t, err, "WithInterval")
}

func sentinelOf(t *testing.T, r *rig) *sentinel.Sentinel {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary"})
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	require.NoError(t, err)
	s, err := sentinel.New(split, r.src, c, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// Snapshot's stage and phase are of one moment, however the rounds run
// beside it: finalizing only once promoted, rolling only while the
// rollout is not over. (Release and Status, read one after the other
// beside running rounds, once showed a fleet's leader finalizing a
// rollout still in progress, and a soak took the promoted build for a
// rolled-back one.)
func TestSnapshotIsOneMoment(t *testing.T) {
	r := newRig(t)
	r.builds.set(one, one)
	done := make(chan struct{})
	sawRolling := make(chan struct{}, 1)
	seen := map[release.Stage]int{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			st, rel := r.life.Snapshot()
			seen[rel.Stage]++
			switch rel.Stage {
			case release.StageFinalizing:
				assert.Equal(t, sentinel.PhasePromoted, st.Phase, "finalizing, so promoted")
			case release.StageRolling:
				assert.False(t, st.Phase.Final(), "rolling, so not over: %s", st.Phase)
				select {
				case sawRolling <- struct{}{}:
				default:
				}
			}
		}
	})
	base := "b1"
	for n := 2; n <= 7; n++ { // good and bad in turn
		cand := "b" + strconv.Itoa(n)
		r.builds.set([]string{base}, []string{cand})
		if n%2 == 1 {
			r.until(release.StageWaiting, 30, 30) // rolled back
			continue
		}
		if n == 2 {
			// The snapshots see a rolling release at least once, however
			// the machine schedules them: the rollout waits for them.
			r.until(release.StageRolling, 0, 30)
			select {
			case <-sawRolling:
			case <-time.After(time.Minute):
				t.Fatal("no snapshot saw the release rolling in a minute")
			}
		}
		r.until(release.StageFinalizing, 0, 30)
		base = cand
		r.builds.set([]string{base}, []string{cand})
		r.until(release.StageWaiting, 0, 30)
	}
	close(done)
	wg.Wait()
	assert.Positive(t, seen[release.StageRolling])
	assert.Equal(t, 6, r.life.Release().Number)
}

// Release after release, the log keeps its last 100 events, and only the
// latest 20 keep their verdict's evidence and their figures: the older
// keep the outcome, test and reason, so that the log's size stops
// growing (a soak saw the heap grow for half an hour while the log
// filled with whole verdicts).
func TestTheLogStaysSmallReleaseAfterRelease(t *testing.T) {
	r := newRig(t)
	r.builds.set(one, one)
	base := "b1"
	size := func() int {
		b, err := json.Marshal(r.life.Status().Events)
		require.NoError(t, err)
		return len(b)
	}
	var sizes []int
	for n := 2; n <= 80; n++ { // good and bad in turn
		cand := "b" + strconv.Itoa(n)
		r.builds.set([]string{base}, []string{cand})
		if n%2 == 1 {
			r.until(release.StageWaiting, 30, 30)
		} else {
			r.until(release.StageFinalizing, 0, 30)
			base = cand
			r.builds.set([]string{base}, []string{cand})
			r.until(release.StageWaiting, 0, 30)
		}
		if n%20 == 0 {
			sizes = append(sizes, size())
		}
	}
	evs := r.life.Status().Events
	require.Len(t, evs, 100)
	var full int
	for i, e := range evs {
		if i < len(evs)-20 {
			assert.Nil(t, e.Figures, "event %d", e.Seq)
			if e.Verdict != nil {
				assert.Nil(t, e.Verdict.Evidence, "event %d", e.Seq)
				assert.Nil(t, e.Verdict.Tests, "event %d", e.Seq)
				assert.NotEmpty(t, e.Verdict.Reason, "event %d keeps its reason", e.Seq)
			}
		} else if e.Verdict != nil && len(e.Verdict.Tests) > 0 {
			full++
		}
	}
	assert.Positive(t, full, "the latest events keep their evidence")
	t.Logf("the log's JSON at releases 20, 40, 60, 80: %v bytes", sizes)
	require.Len(t, sizes, 4)
	assert.LessOrEqual(t, sizes[3], sizes[2]*11/10, "the log's size once full")
}
