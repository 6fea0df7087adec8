package shadow_test

import (
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/telemetry"
)

// telemetry's Metrics is the shadow's metrics sink in every program.
var _ shadow.Metrics = (*telemetry.Metrics)(nil)
