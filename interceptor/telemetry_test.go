package interceptor_test

import (
	"github.com/ninelives-go/ninelives/interceptor"
	"github.com/ninelives-go/ninelives/telemetry"
)

// telemetry's Metrics is the shadow's metrics sink in every program.
var _ interceptor.ShadowMetrics = (*telemetry.Metrics)(nil)
