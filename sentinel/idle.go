package sentinel

import "context"

// Idle runs a round that collects the figures and keeps them for the
// status, as Tick does, but lets neither the judge nor the strategy see
// them: the rollout holds, and the event says why (reason). A release
// lifecycle idles its sentinel between rollouts, while no build waits to be
// judged, so the figures of that time are taken from the source and judged
// by no rollout. A failing source holds and alerts once per streak, as in
// Tick, but never rolls back: there is no rollout to roll back.
func (s *Sentinel) Idle(ctx context.Context, reason string) Event {
	s.tickSem <- struct{}{}
	defer func() { <-s.tickSem }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.endTick()
	s.mu.Lock()
	if s.closed {
		defer s.mu.Unlock()
		return s.closedLocked()
	}
	s.tickCancel = cancel
	s.mu.Unlock()
	win, err := s.source.Collect(ctx)
	now := s.cfg.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return s.closedLocked()
	case err != nil:
		first := s.streakLocked(ctx, &s.sourceErr, "the metric source", err)
		return s.emitLocked(ctx, now, Event{Action: ActionSourceFail, From: s.pos.Phase, Who: "sentinel", Alert: first,
			Reason: "the metric source failed: " + err.Error()}, nil)
	}
	s.sourceErr = ""
	s.recordLocked(now, win)
	s.gen = s.router.Generation()
	return s.holdLocked(ctx, now, reason, nil)
}
