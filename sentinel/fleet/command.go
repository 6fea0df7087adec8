package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/names"
	"github.com/ninelives-go/ninelives/internal/strictjson"
	"github.com/ninelives-go/ninelives/sentinel"
)

// ErrBadCommand is returned, wrapped, for a command Issue refuses.
var ErrBadCommand = errors.New("ninelives: bad fleet command")

// ErrNotApplied is returned, wrapped, when no leader applied a command
// within the time a Controller waits; the command is withdrawn then, so it
// never applies later by surprise.
var ErrNotApplied = errors.New("ninelives: the command was not applied")

// Command is a manual control of a fleet's rollout: written under
// <prefix>/commands/<id> by any program (the ninelives command, a status
// page), applied by the leader in the same transaction as the checkpoint
// that carries its effect, and answered in Result. A new leader finds a
// command its predecessor applied but did not commit still unanswered and
// applies it: each command is applied exactly once.
type Command struct {
	Format int    `json:"format"`
	ID     string `json:"id"`
	// Action is one of pause, resume, promote, abort and set_weights.
	Action sentinel.Action `json:"action"`
	// Weight is the candidate's weight in basis points (set_weights only).
	Weight *int      `json:"weight,omitempty"`
	Who    string    `json:"who"`
	Reason string    `json:"reason,omitempty"`
	Issued time.Time `json:"issued"`
	// Result is set by the leader that applied the command.
	Result *CommandResult `json:"result,omitempty"`
}

// CommandResult is how a leader answered a command.
type CommandResult struct {
	// Applied is false for a command the rollout's phase does not allow
	// (Error says why; Transition is set) or that is malformed.
	Applied    bool   `json:"applied"`
	Error      string `json:"error,omitempty"`
	Transition bool   `json:"transition,omitempty"`
	// Leader and Term name the leader that applied it, Tick the checkpoint
	// that carries it.
	Leader string    `json:"leader"`
	Term   int64     `json:"term"`
	Tick   uint64    `json:"tick"`
	Time   time.Time `json:"time"`
}

// Err returns the command's failure as an error: nil when applied or not
// answered yet; wrapping sentinel.ErrTransition for a control the phase
// does not allow, ErrBadCommand otherwise.
func (c Command) Err() error {
	r := c.Result
	switch {
	case r == nil || r.Applied:
		return nil
	case r.Transition:
		return fmt.Errorf("%w: %s", sentinel.ErrTransition, trimPrefix(r.Error, sentinel.ErrTransition))
	}
	return fmt.Errorf("%w: %s", ErrBadCommand, r.Error)
}

// trimPrefix drops the kind's text an error recorded in a result starts
// with, so that wrapping it again does not repeat it.
func trimPrefix(msg string, kind error) string {
	p := kind.Error() + ": "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// commandActions are the actions a Command may carry.
var commandActions = []sentinel.Action{sentinel.ActionPause, sentinel.ActionResume, sentinel.ActionPromote,
	sentinel.ActionAbort, sentinel.ActionSetWeights}

// check names the first bad field of a command.
func (c *Command) check() error {
	if err := checkName("ID", c.ID); err != nil {
		return config.Under(ErrBadCommand, "", err)
	}
	known := false
	for _, a := range commandActions {
		known = known || c.Action == a
	}
	switch {
	case !known:
		return config.Errorf(ErrBadCommand, "Action", string(c.Action), "want one of pause, resume, promote, abort, set_weights")
	case c.Action == sentinel.ActionSetWeights && c.Weight == nil:
		return config.Errorf(ErrBadCommand, "Weight", nil, "set_weights needs the candidate's weight, 0..%d", balancer.TotalWeight)
	case c.Action == sentinel.ActionSetWeights && (*c.Weight < 0 || *c.Weight > balancer.TotalWeight):
		return config.Errorf(ErrBadCommand, "Weight", *c.Weight, "want 0..%d basis points", balancer.TotalWeight)
	case c.Action != sentinel.ActionSetWeights && c.Weight != nil:
		return config.Errorf(ErrBadCommand, "Weight", *c.Weight, "only set_weights takes a weight")
	}
	if err := names.Text(c.Who, names.MaxWhoLen); err != nil {
		return config.Errorf(ErrBadCommand, "Who", c.Who, "%v", err)
	}
	if err := names.Text(c.Reason, names.MaxReasonLen); err != nil {
		return config.Errorf(ErrBadCommand, "Reason", nil, "%v", err)
	}
	return nil
}

// newCommandID returns a random command id.
func newCommandID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}

// decodeCommand reads a stored command; one that does not decode or check
// is returned with the error, for the leader to answer as rejected.
func decodeCommand(b []byte) (Command, error) {
	var c Command
	if err := strictjson.Decode(b, &c); err != nil {
		return c, fmt.Errorf("%w: not valid JSON of the format: %v", ErrBadCommand, err)
	}
	if c.Format != StateFormat {
		return c, config.Errorf(ErrBadCommand, "Format", c.Format, "want %d", StateFormat)
	}
	return c, c.check()
}

func (c Command) encode() (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("ninelives: encoding command %s: %w", c.ID, err)
	}
	return string(b), nil
}
