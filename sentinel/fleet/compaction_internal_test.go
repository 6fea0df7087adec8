package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// sizes returns the etcd member's database size and the part of it in use.
func (f *benchFleet) sizes() (size, inUse int64) {
	f.tb.Helper()
	st, err := f.client.Status(context.Background(), f.client.Endpoints()[0])
	require.NoError(f.tb, err)
	return st.DbSize, st.DbSizeInUse
}

// Every report adds a revision that etcd keeps until it is compacted, so a
// fleet that never compacted grew its database by every report it wrote
// (100 replicas: 2.6 MB at tick 30, 5.8 MB at tick 60) until etcd's quota
// would refuse every write. The leader compacts the revisions older than a
// period (here 10 s), so once the replicas hold their full retention the
// database stays flat: the file (what etcd's quota counts) does not grow
// over the second half of the run by more than a fifth of what the half
// wrote (without compaction it grows by all of it), and neither does the
// part in use, which rises and falls with each period.
func TestDatabaseStaysFlatOverManyReports(t *testing.T) {
	f := newBenchFleet(t, 100, WithCompaction(10*time.Second))
	f.keep = 8 // what the replicas hold is flat from the 8th tick on
	const ticks = 100
	var size [2]int64  // the file at the middle and at the end
	var inUse [2]int64 // the most in use over each half
	for i := range ticks {
		f.clock.Advance(time.Second)
		f.reportAll()
		_, err := f.leader.Tick(context.Background())
		require.NoError(t, err)
		half := i * 2 / ticks
		s, u := f.sizes()
		if i >= ticks/4 {
			inUse[half] = max(inUse[half], u)
		}
		size[half] = s
	}
	// What the second half wrote: kept whole, the database would grow by it.
	written := int64(ticks/2*f.n) * int64(len(encodeReport(&report{Segments: []segment{{Window: f.win}}})))
	t.Logf("database file %d kB at tick %d, %d kB at tick %d; most in use %d kB, then %d kB; %d compactions; the second half wrote %d kB",
		size[0]>>10, ticks/2, size[1]>>10, ticks, inUse[0]>>10, inUse[1]>>10, f.leader.Status().Compactions, written>>10)
	assert.Less(t, size[1]-size[0], written/5, "the database file grew by more than a fifth of what was written")
	assert.Less(t, inUse[1]-inUse[0], written/5, "the database in use grew by more than a fifth of what was written")
	assert.GreaterOrEqual(t, f.leader.Status().Compactions, int64(ticks/10-1))
}

// A leader with compaction off leaves etcd's history alone.
func TestNoCompactionWhenOff(t *testing.T) {
	f := newBenchFleet(t, 2, WithCompaction(0))
	for range 30 {
		f.clock.Advance(time.Second)
		f.reportAll()
		_, err := f.leader.Tick(context.Background())
		require.NoError(t, err)
	}
	assert.Zero(t, f.leader.Status().Compactions)
	_, err := f.client.Get(context.Background(), f.keys.state(), clientv3.WithRev(2))
	assert.NoError(t, err, "revision 2 is still there")
}
