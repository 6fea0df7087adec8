package script

import (
	"encoding/json"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
)

var _ sentinel.StatefulStrategy = (*Script)(nil)

// StrategyState implements sentinel.StatefulStrategy. A script's memory
// holds Starlark values (histograms, rate tests, structs) that a checkpoint
// does not save, so it returns nil: a restored Script starts with empty
// memory.
func (s *Script) StrategyState() (json.RawMessage, error) { return nil, nil }

// RestoreStrategyState implements sentinel.StatefulStrategy. It rejects a
// checkpoint that holds a strategy state (a script saves none), and the
// blue/green script (BlueGreen), which keeps its stage and figures in
// memory, rejects a checkpoint past its warm-up, as the Go strategy does
// without its state. Other scripts start afresh on empty memory.
func (s *Script) RestoreStrategyState(cp sentinel.Checkpoint) error {
	if len(cp.StrategyState) > 0 {
		return config.Errorf(sentinel.ErrBadCheckpoint, "", nil, "script %s keeps no state in a checkpoint, but the checkpoint holds one", s.Name())
	}
	if s.cfg.restoreCheck != nil {
		return s.cfg.restoreCheck(cp)
	}
	return nil
}
