package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseSpec(t *testing.T) {
	sp, err := ParseSpec("canary=2:errors=0.05,latency=5ms,tail=0.03,taillatency=500ms,price=3,extra=4,failafter=2,hang")
	require.NoError(t, err)
	assert.Equal(t, demoserver.VersionSpec{Version: "canary", Count: 2,
		Faults: demoserver.Faults{ErrorRate: 0.05, Latency: 5 * time.Millisecond, TailRate: 0.03, TailLatency: 500 * time.Millisecond,
			PriceDelta: 3, ExtraItems: 4, FailAfterItems: 2, Hang: true}}, sp)
	sp, err = ParseSpec("canary=2:errors=0.5@127.0.0.1:4001,127.0.0.1:4002")
	require.NoError(t, err)
	assert.Equal(t, demoserver.VersionSpec{Version: "canary", Count: 2, Faults: demoserver.Faults{ErrorRate: 0.5},
		Addrs: []string{"127.0.0.1:4001", "127.0.0.1:4002"}}, sp)
	sp, err = ParseSpec("canary=1@127.0.0.1:4001")
	require.NoError(t, err)
	assert.Equal(t, demoserver.VersionSpec{Version: "canary", Count: 1, Addrs: []string{"127.0.0.1:4001"}}, sp)
	sp, err = ParseSpec("stable=1:latency=0s,extra=0")
	require.NoError(t, err)
	assert.Equal(t, demoserver.VersionSpec{Version: "stable", Count: 1}, sp, "zero latency and zero extra items are allowed")
	for in, want := range map[string]string{
		"canary":                   "want VERSION=COUNT",
		"canary=0":                 `count "0"`,
		"canary=1:errors=2":        "want a rate in [0, 1]",
		"canary=1:errors=NaN":      "want a rate in [0, 1]",
		"canary=1:slow":            `fault "slow": want errors=RATE, latency=DURATION, tail=RATE, taillatency=DURATION, price=DELTA, extra=N, failafter=N or hang`,
		"canary=1:tail=1.5":        `fault "tail=1.5": want a rate in [0, 1]`,
		"canary=1:taillatency=-1s": `fault "taillatency=-1s": taillatency -1s is negative`,
		"canary=2@127.0.0.1:1":     `-fleet "canary=2@127.0.0.1:1": 1 addresses for a count of 2, want one per instance`,
		"canary=1:latency=x":       `fault "latency=x"`,
		"canary=1:latency=-5ms":    `fault "latency=-5ms": latency -5ms is negative, want a duration of 0 or more`,
		"canary=1:hang=yes":        `fault "hang=yes": hang takes no value, got "yes"`,
		"canary=1:hang=":           `fault "hang=": hang takes no value, got ""`,
		"canary=1:extra=-1":        `fault "extra=-1": extra -1 is negative, want a whole number of items, 0 or more`,
		"canary=1:extra=two":       `fault "extra=two"`,
		"canary=1:extra=1.5":       `fault "extra=1.5"`,
		"canary=1:failafter=-2":    `fault "failafter=-2": failafter -2 is negative, want a whole number of items, 0 or more`,
	} {
		_, err := ParseSpec(in)
		assert.ErrorContains(t, err, want, in)
	}
}

func TestRunPrintsTheTargetAndStopsWhenStdinCloses(t *testing.T) {
	r, w := io.Pipe()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run([]string{"-fleet", "stable=2"}, r, &out, io.Discard) }()
	require.NoError(t, w.Close())
	require.NoError(t, <-done)
	assert.True(t, strings.HasPrefix(out.String(), "target: ninelives:///stable=passthrough:///127.0.0.1:"), out.String())
	assert.Equal(t, 2, strings.Count(out.String(), "stable="))
	assert.ErrorContains(t, run(nil, r, &out, io.Discard), "give at least one -fleet")
}

func TestCommandsSetFaultsWhileItRuns(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run([]string{"-fleet", "stable=1", "-fleet", "canary=2"}, inR, outW, io.Discard) }()
	lines := bufio.NewReader(outR)
	target, err := lines.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(target, "target: "), target)
	for cmd, want := range map[string]string{
		"faults canary errors=1,latency=1ms": "ok",
		"faults canary none":                 "ok",
		"faults nope errors=1":               `error: ninelives: demofleet: command "faults nope errors=1": version "nope", want one of [stable canary]`,
		"faults canary errors=2":             `error: ninelives: demofleet: command "faults canary errors=2": fault "errors=2": want a rate in [0, 1]`,
		"kill canary":                        `error: ninelives: demofleet: command "kill canary": want faults VERSION FAULTS, or stop VERSION INDEX`,
		"stop canary 2":                      `error: ninelives: demofleet: command "stop canary 2": index "2", want 0 to 1`,
		"stop canary x":                      `error: ninelives: demofleet: command "stop canary x": index "x", want 0 to 1`,
		"stop nope 0":                        `error: ninelives: demofleet: command "stop nope 0": version "nope", want one of [stable canary]`,
		"stop canary 1":                      "ok",
	} {
		_, err := io.WriteString(inW, cmd+"\n")
		require.NoError(t, err)
		got, err := lines.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, want+"\n", got, cmd)
	}
	require.NoError(t, inW.Close())
	require.NoError(t, <-done)
	require.NoError(t, outW.Close())
}

func TestCommandSetsEveryInstancesFaults(t *testing.T) {
	f, err := demoserver.StartFleet(demoserver.VersionSpec{Version: "stable", Count: 1}, demoserver.VersionSpec{Version: "canary", Count: 2})
	require.NoError(t, err)
	defer f.Stop()
	require.NoError(t, command(f, "faults canary errors=0.05,tail=0.03,taillatency=500ms"))
	want := demoserver.Faults{ErrorRate: 0.05, TailRate: 0.03, TailLatency: 500 * time.Millisecond}
	for _, s := range f.Servers("canary") {
		assert.Equal(t, want, s.Faults())
	}
	assert.Equal(t, demoserver.Faults{}, f.Servers("stable")[0].Faults(), "the other version keeps its own")
	require.NoError(t, command(f, "faults canary none"))
	assert.Equal(t, demoserver.Faults{}, f.Servers("canary")[1].Faults())
}

// stop ends one instance alone: its address no longer answers, the
// others go on.
func TestStopEndsOneInstance(t *testing.T) {
	f, err := demoserver.StartFleet(demoserver.VersionSpec{Version: "stable", Count: 1}, demoserver.VersionSpec{Version: "canary", Count: 2})
	require.NoError(t, err)
	defer f.Stop()
	gone, kept := f.Servers("canary")[1].Addr(), f.Servers("canary")[0].Addr()
	require.NoError(t, command(f, "stop canary 1"))
	_, err = net.DialTimeout("tcp", gone, time.Second)
	assert.Error(t, err, "the stopped instance's port is closed")
	c, err := net.DialTimeout("tcp", kept, time.Second)
	require.NoError(t, err, "the other instance still listens")
	require.NoError(t, c.Close())
}

// TestBadFlagsArePrintedOnce checks what the program prints on its
// standard error and its exit status.
func TestBadFlagsArePrintedOnce(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool
		code  int
	}{
		{[]string{"-nope"}, "flag provided but not defined: -nope", true, 1},
		{[]string{"-fleet", "canary=0"}, `invalid value "canary=0" for flag -fleet: ninelives: -fleet "canary=0": count "0"`, true, 1},
		{nil, "ninelives: demofleet: give at least one -fleet VERSION=COUNT", false, 1},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(tc.args, strings.NewReader(""), &stdout, &stderr)
		assert.Equal(t, tc.code, code, "%v", tc.args)
		assert.Equal(t, 1, strings.Count(stderr.String(), tc.want), "%v: printed once:\n%s", tc.args, stderr.String())
		assert.Equal(t, tc.usage, strings.Contains(stderr.String(), "Usage of demofleet:"), "%v: usage:\n%s", tc.args, stderr.String())
		assert.Empty(t, stdout.String())
	}

	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, cli([]string{"-h"}, strings.NewReader(""), &stdout, &stderr), "-h is no error")
	assert.Contains(t, stderr.String(), "Usage of demofleet:\n  -fleet value\n")
	assert.NotContains(t, stderr.String(), "help requested")
}
