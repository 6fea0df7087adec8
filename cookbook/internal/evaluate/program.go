package evaluate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
)

// Main is the harness's program: it runs the scenarios the flags ask for,
// prints the report on stdout and writes its files. With -hog-for it is
// the CPU hog instead, until then, until stdin closes or until ctx ends.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.HogFor > 0 {
		hogCtx, cancel := context.WithCancel(ctx)
		go func() { _, _ = io.Copy(io.Discard, stdin); cancel() }()
		Hog(c.HogFor, hogCtx.Done())
		cancel()
		return nil
	}
	env, done, err := c.env()
	if err != nil {
		return err
	}
	defer done()
	r := Report{Command: "go run ./cookbook/evaluate " + strings.Join(args, " "), Limits: c.Limits, Start: time.Now(), LoadBefore: LoadAverage()}
	results, err := Execute(ctx, env, c.Jobs(), c.Limits, stderr)
	r.Elapsed, r.LoadAfter, r.Results = time.Since(r.Start), LoadAverage(), results
	r.Rows = Summarize(c.Scenarios(), results)
	if werr := c.write(r, stdout); werr != nil {
		return werr
	}
	return err
}

// env builds demofleet if no program was given; done removes what it
// built.
func (c Config) env() (*Env, func(), error) {
	env := &Env{Demofleet: c.Demofleet, Interval: c.Interval, Rescue: c.Rescue}
	if env.Demofleet != "" {
		return env, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "ninelives-evaluate")
	if err != nil {
		return nil, nil, fmt.Errorf("ninelives: evaluate: %w", err)
	}
	done := func() { _ = os.RemoveAll(dir) }
	if env.Demofleet, err = demoproc.Build(dir); err != nil {
		done()
		return nil, nil, err
	}
	return env, done, nil
}

// write prints the report on stdout and writes its files.
func (c Config) write(r Report, stdout io.Writer) error {
	var md, table, runs bytes.Buffer
	if err := WriteMarkdownReport(&md, r); err != nil {
		return err
	}
	if err := WriteCSV(&table, r.Rows); err != nil {
		return err
	}
	if err := WriteRunsCSV(&runs, r.Results); err != nil {
		return err
	}
	if _, err := stdout.Write(md.Bytes()); err != nil {
		return err
	}
	for path, b := range map[string][]byte{c.Markdown: md.Bytes(), c.CSV: table.Bytes(), c.RunsCSV: runs.Bytes()} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("ninelives: evaluate: %w", err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("ninelives: evaluate: %w", err)
		}
	}
	fmt.Fprintf(stdout, "\nWritten: %s, %s, %s\n", c.Markdown, c.CSV, c.RunsCSV)
	return nil
}
