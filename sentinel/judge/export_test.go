package judge

// ErrorTest and LatencyTest name the judge's tests for the external tests.
type (
	ErrorTest   = errorTest
	LatencyTest = latencyTest
)

// NewErrorTest gives the external tests the judge's errors test alone.
// An optional Restarts replaces the default ones.
func NewErrorTest(alpha float64, cfg ErrorConfig, r ...Restarts) (*ErrorTest, error) {
	if err := checkAlpha("alpha", alpha); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newErrorTest(alpha, cfg, restartsOf(r)), nil
}

// NewLatencyTest gives the external tests the judge's latency test alone.
// An optional Restarts replaces the default ones.
func NewLatencyTest(alpha float64, cfg LatencyConfig, r ...Restarts) (*LatencyTest, error) {
	if err := checkAlpha("alpha", alpha); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newLatencyTest(alpha, cfg, restartsOf(r)), nil
}

// restartsOf is the restarts given, with the defaults filled in.
func restartsOf(r []Restarts) Restarts {
	var given Restarts
	if len(r) > 0 {
		given = r[0]
	}
	filled, err := given.withDefaults()
	if err != nil {
		panic(err)
	}
	return filled
}
