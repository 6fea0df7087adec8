package sentinel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A crash loop's reason names the configured span it failed to serve
// through, not the length its last ticks happened to take.
func TestACrashLoopsReasonNamesTheConfiguredSpan(t *testing.T) {
	sv := Serving{Listed: true, Calls: 111, Span: 6*time.Second + 40*time.Millisecond, Down: true, DownFor: 121 * time.Second, Downs: 16}
	assert.Equal(t, "canary has no ready endpoints; 111 calls in the last 6s; not serving for 2m1s, down 16 times in it (it comes back and goes again before it serves for 5s)",
		servingReason(sv, "canary", "canary has no ready endpoints", 5*time.Second))
	sv.Downs = 1
	assert.Equal(t, "canary has no ready endpoints; 111 calls in the last 6s; not serving for 2m1s",
		servingReason(sv, "canary", "canary has no ready endpoints", 5*time.Second), "down once: no count")
}
