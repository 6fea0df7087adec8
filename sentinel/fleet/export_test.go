package fleet

// SetBeforeCommit makes l run f before each of its commits: a test kills
// the leader's process there, after it applied what it read and before it
// committed.
func SetBeforeCommit(l *Leader, f func()) {
	l.lockRun()
	l.beforeCommit = f
	l.unlockRun()
}
