package chaos

import (
	"io"
	"log/slog"
	"os"

	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
)

// Workspace is where the chaos and the soak run: a scratch directory, the
// demofleet program built in it, and a logger that keeps nothing (the
// commands print their own tables).
type Workspace struct {
	Bin, Dir string
	Logger   *slog.Logger
}

// NewWorkspace makes a workspace named after the command; Close removes
// it.
func NewWorkspace(name string) (*Workspace, error) {
	dir, err := os.MkdirTemp("", "ninelives-"+name)
	if err != nil {
		return nil, err
	}
	bin, err := demoproc.Build(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Workspace{Bin: bin, Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil
}

// Close removes the workspace.
func (w *Workspace) Close() { _ = os.RemoveAll(w.Dir) }
