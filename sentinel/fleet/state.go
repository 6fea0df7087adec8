package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/strictjson"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/release"
	"github.com/ninelives-go/ninelives/telemetry"
)

// StateFormat is the format of the documents this package writes; one
// with another format is rejected.
const StateFormat = 1

// RolloutState is what the leader publishes under <prefix>/state and every
// replica's Split follows: where the rollout stands (its Position, with the
// last change's action, author and reason). Seq grows by one with every
// change, across leaders; Term is the election revision of the leader that
// wrote it, so it never goes down. A Follower applies a state only if its
// Seq is above the one it applied last and its Term is not below.
type RolloutState struct {
	Format int    `json:"format"`
	Term   int64  `json:"term"`
	Seq    uint64 `json:"seq"`
	Leader string `json:"leader"`
	sentinel.Position
	// Time is when the leader published the state.
	Time time.Time `json:"time"`
}

// DecodeState parses and checks a rollout state as stored in etcd.
func DecodeState(b []byte) (*RolloutState, error) {
	var s RolloutState
	if err := strictjson.Decode(b, &s); err != nil {
		return nil, config.Errorf(ErrBadState, "rollout state", nil, "not valid JSON of the format: %v", err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// validate checks every field, naming the first bad one.
func (s *RolloutState) validate() error {
	switch {
	case s.Format != StateFormat:
		return config.Errorf(ErrBadState, "rollout state format", s.Format, "want %d", StateFormat)
	case s.Term <= 0:
		return config.Errorf(ErrBadState, "rollout state term", s.Term, "want the leader's election revision (> 0)")
	case s.Seq == 0:
		return config.Errorf(ErrBadState, "rollout state seq", s.Seq, "want 1 or more")
	case !s.Phase.Valid():
		return config.Errorf(ErrBadState, "rollout state phase", string(s.Phase), "want one of pending, progressing, paused, promoted, rolled_back, aborted")
	case s.Step < 0:
		return config.Errorf(ErrBadState, "rollout state step", s.Step, "want ≥ 0")
	case s.Baseline == "" || s.Candidate == "" || s.Baseline == s.Candidate:
		return config.Errorf(ErrBadState, "rollout state baseline and candidate", fmt.Sprintf("%q and %q", s.Baseline, s.Candidate), "want two different versions")
	}
	return checkWeights(ErrBadState, "rollout state weights", s.Weights, s.Baseline, s.Candidate)
}

// checkWeights checks that ws name each version once, with weights that
// sum to balancer.TotalWeight, and name every version of need. The error
// is of kind and names the weights as what.
func checkWeights(kind error, what string, ws []balancer.Weight, need ...string) error {
	sum := 0
	var seen []string
	for i, w := range ws {
		field := fmt.Sprintf("%s[%d]", what, i)
		switch {
		case w.Version == "":
			return config.Errorf(kind, field, nil, "no version")
		case slices.Contains(seen, w.Version):
			return config.Errorf(kind, field, w.Version, "the version appears twice")
		case w.Weight < 0 || w.Weight > balancer.TotalWeight:
			return config.Errorf(kind, field, w.Weight, "for %q, want 0..%d", w.Version, balancer.TotalWeight)
		}
		seen = append(seen, w.Version)
		sum += w.Weight
	}
	if sum != balancer.TotalWeight {
		return config.Errorf(kind, what, ws, "sum to %d, want %d", sum, balancer.TotalWeight)
	}
	for _, v := range need {
		if !slices.Contains(seen, v) {
			return config.Errorf(kind, what, ws, "do not name version %q", v)
		}
	}
	return nil
}

// report is what a replica writes each tick: the figures since its previous
// report, cut into segments at each rollout state it applied, so the leader
// can leave out the figures of calls made under other weights than the
// ones it judges. SourceError is set when the replica's metric source
// failed at its last collection: the report carries what was collected
// before, and the leader shows which replicas cannot count.
type report struct {
	Format      int       `json:"format"`
	Replica     string    `json:"replica"`
	Epoch       string    `json:"epoch"`
	Seq         uint64    `json:"seq"`
	SourceError string    `json:"sourceError,omitempty"`
	Segments    []segment `json:"segments"`
}

// segment is a replica's figures under one rollout state (its Seq; 0
// before any). Mixed marks figures that span several states.
type segment struct {
	State  uint64            `json:"state"`
	Mixed  bool              `json:"mixed,omitempty"`
	Window *telemetry.Window `json:"window"`
}

// decodeReport reads a report in the binary form (into scratch, reusing
// it) or, from replicas of earlier versions, in JSON, and checks that it
// is the one its key names. Its windows are checked as they are merged.
func decodeReport(b []byte, replica, epoch string, seq uint64, scratch *report) (*report, error) {
	r := scratch
	var err error
	if len(b) > 0 && b[0] == '{' {
		r = new(report) // not strict: a window's JSON carries derived figures too
		err = json.Unmarshal(b, r)
	} else {
		err = decodeBinaryReport(b, r)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: report %s/%s/%d is not of the format: %v", ErrBadState, replica, epoch, seq, err)
	}
	switch {
	case r.Format != StateFormat:
		return nil, fmt.Errorf("%w: report %s/%s/%d has format %d, want %d", ErrBadState, replica, epoch, seq, r.Format, StateFormat)
	case r.Replica != replica || r.Epoch != epoch || r.Seq != seq:
		return nil, fmt.Errorf("%w: report under key %s/%s/%d says it is %s/%s/%d", ErrBadState, replica, epoch, seq, r.Replica, r.Epoch, r.Seq)
	}
	return r, nil
}

// checkpoint is the leader's record under <prefix>/checkpoint, written in
// the same transaction as the state: the sentinel's checkpoint and how far
// the leader has read each replica's reports. A new leader starts from it,
// so every report is judged exactly once over all terms.
type checkpoint struct {
	Format   int                 `json:"format"`
	Term     int64               `json:"term"`
	Leader   string              `json:"leader"`
	Tick     uint64              `json:"tick"`
	StateSeq uint64              `json:"stateSeq"`
	ReadRev  int64               `json:"readRev"`
	Cursors  map[string]cursor   `json:"cursors,omitempty"`
	Sentinel sentinel.Checkpoint `json:"sentinel"`
	// Release is the lifecycle's record: its stage, and how many events
	// it has logged, all of them in the history.
	Release release.Record `json:"release"`
}

// cursor is how far the leader has read one replica epoch's reports.
type cursor struct {
	Seq  uint64    `json:"seq"`
	Seen time.Time `json:"seen"`
}

func decodeCheckpoint(b []byte) (*checkpoint, error) {
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: checkpoint is not valid JSON of the format: %v", ErrBadState, err)
	}
	if c.Format != StateFormat {
		return nil, fmt.Errorf("%w: checkpoint format %d, want %d", ErrBadState, c.Format, StateFormat)
	}
	if c.Term <= 0 || c.ReadRev < 0 {
		return nil, fmt.Errorf("%w: checkpoint term %d, read revision %d: want a term > 0 and a revision ≥ 0", ErrBadState, c.Term, c.ReadRev)
	}
	return &c, nil
}
