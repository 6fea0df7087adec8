package fleet

import (
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

// FleetStatus is the rollout's status as the leader stores it under
// <prefix>/status with each commit, for any replica, page or command line
// to read (Controller.Read): where the rollout stands, the verdict with its
// evidence, each version's figures, the last decision, the release
// lifecycle and what the leader read.
type FleetStatus struct {
	Format int       `json:"format"`
	Leader string    `json:"leader"`
	Term   int64     `json:"term"`
	Tick   uint64    `json:"tick"`
	Time   time.Time `json:"time"`
	// Sentinel is the leader's sentinel's status without its tick history,
	// events and endpoints (the history holds the events).
	Sentinel sentinel.Status `json:"sentinel"`
	Release  *release.Status `json:"release,omitempty"`
	Source   SourceStats     `json:"source"`
}

// statusDoc is the status the commit of doc stores.
func (l *Leader) statusDoc(doc checkpoint) FleetStatus {
	st, r := l.life.Snapshot()
	st.History, st.Events, st.Endpoints = nil, nil, nil
	fs := FleetStatus{Format: StateFormat, Leader: l.name, Term: doc.Term, Tick: doc.Tick, Time: l.cfg.clock.Now(),
		Sentinel: st, Source: l.src.Stats()}
	if l.life.Continuous() {
		fs.Release = &r
	}
	return fs
}
