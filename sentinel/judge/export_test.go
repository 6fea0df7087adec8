package judge

// ErrorTest and LatencyTest name the judge's tests for the external tests.
type (
	ErrorTest   = errorTest
	LatencyTest = latencyTest
)

// NewErrorTest gives the external tests the judge's errors test alone.
func NewErrorTest(alpha float64, cfg ErrorConfig) (*ErrorTest, error) {
	if err := checkAlpha("alpha", alpha); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newErrorTest(alpha, cfg), nil
}

// NewLatencyTest gives the external tests the judge's latency test alone.
func NewLatencyTest(alpha float64, cfg LatencyConfig) (*LatencyTest, error) {
	if err := checkAlpha("alpha", alpha); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newLatencyTest(alpha, cfg), nil
}
