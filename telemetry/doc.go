// Package telemetry turns what the ninelives balancer sees into OpenTelemetry
// metrics, per version of a service, and reads them back as windows for the
// sentinel that judges a rollout. It pulls in no exporter: promexport serves
// the metrics to Prometheus, otlpexport pushes them over OTLP, and promsource
// reads windows back from a Prometheus server.
//
// # Usage
//
// One MeterProvider carries everything: a Source for the sentinel and
// whatever exporters the dashboards need. Metrics records on it; Instrument
// attaches it to a Split.
//
//	src, err := telemetry.NewSource()  // the sentinel's reader (delta)
//	prom, err := promexport.New(nil)   // optional: /metrics for Prometheus
//	mp := sdkmetric.NewMeterProvider(src.Option(), prom.Option())
//	defer mp.Shutdown(ctx)
//
//	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
//	stop, err := m.Instrument(split) // every attempt, fallback and weight of the split
//	defer stop()
//
//	// Each tick of the sentinel:
//	w, err := src.Collect(ctx)
//	canary := w.Version("canary").Role(balancer.RolePrimary)
//	canary.Calls, canary.Errors, canary.Latency.P99(), canary.Latency.CountAbove(0.25)
//
// A window covers the time since the previous Collect; Window.Merge adds
// windows up, so a step of a rollout is judged on all of its ticks. Windows
// encode to JSON for a status page, a checkpoint or a sentinel that sums the
// windows of many client replicas; Merge checks a decoded window and names a
// bad field (ErrBadWindow). Accessors never return nil: a version or role
// that a window did not see reads as zero, and its quantiles as NaN.
//
// The interceptor and the sentinel record through RecordShadowComparison,
// RecordShadowDropped and RecordDecision; those and the split's weights go
// to the exporters for dashboards, while a window holds per version and role
// the calls, errors, status codes and latencies, and per version the shadow
// comparisons and fallbacks.
//
// # Instruments
//
// Scope ScopeName. Attributes: ninelives.version, ninelives.role (primary,
// shadow, warmup; a role of a caller's own is recorded as "other"),
// rpc.method (the full method without its leading slash,
// "pkg.Service/Method", as grpc-go's own metrics name it),
// rpc.grpc.status_code (an integer; every code is recorded).
//
//	instrument                    kind               unit           attributes
//	ninelives.rpc.calls           counter*           {call}         version, role, method, code
//	ninelives.rpc.duration        histogram          s              version, role, method, code
//	ninelives.shadow.comparisons  counter            {comparison}   version, method, result
//	ninelives.shadow.dropped      counter            {call}         ninelives.shadow.reason
//	ninelives.split.weight        gauge (observed)   {basis_point}  version
//	ninelives.split.fallbacks     counter            {pick}         version (the one chosen, down)
//	ninelives.sentinel.decisions  counter            {decision}     ninelives.sentinel.action
//
// (*) ninelives.rpc.calls is an observable counter: each attempt adds one to
// an atomic in its cached attribute entry, and the count is reported when a
// reader collects. To readers and exporters it is a monotonic sum like any
// counter; to the record path it is one atomic add instead of a second trip
// through the SDK.
//
// Attribute sets are built once per (version, role, method, status code) and
// cached in copy-on-write maps read without a lock; a record then allocates
// nothing. Methods are capped (WithMethodCap, default 100): calls of methods
// past the cap are recorded with rpc.method "other", and the first of them
// raises a warning through OpenTelemetry's error handler, so a client that
// calls unbounded method names cannot inflate the series unnoticed.
//
// Which status codes count as errors is the Source's choice (WithErrorCodes),
// by default the server-side failures in DefaultErrorCodes: Unknown,
// DeadlineExceeded, Unimplemented, Internal, Unavailable and DataLoss. A
// caller's InvalidArgument or NotFound says nothing about the release.
//
// # Latency histograms
//
// The duration instrument advises explicit bucket boundaries to exporters,
// DurationBuckets: grpc-go's own latency buckets (10 µs to 100 s), so
// Prometheus' histogram_quantile works and ninelives' latency panels line up
// with grpc-go's. They are coarse on purpose: each bucket is a series in
// Prometheus, for every version, role, method and code.
//
// The Source reads the same instrument through its own aggregation, base-2
// exponential buckets (readers of one provider aggregate independently, so
// exporters are unaffected). A series starts at scale 6 (64 buckets per
// doubling) and lowers its scale only as far as its spread needs to fit 320
// buckets, so scale 4 or finer holds for latencies that span up to 2^20 in
// one window, such as 30 µs to 30 s. Histogram.Quantile finds the bucket that
// holds the quantile's rank and interpolates geometrically in it, narrowed to
// the window's min and max: the estimate lies in the bucket of the true
// sample quantile, so its relative error is below 2^(2^-scale) − 1, 4.43 % at
// scale 4. The tests draw 100,000 log-normal latencies (median 20 ms,
// σ = 0.8) through the balancer's hook: p50 and p99 come within that bound of
// the sample quantiles and within 5 % of the distribution's true ones.
//
// The cost is per record: the SDK's exponential aggregator takes a lock per
// instrument and computes a logarithm. Measured here, one attempt through
// the hook costs about 190 ns with the Source alone and 250 ns with
// promexport's exporter beside it, with no allocation (BenchmarkRecord in
// both packages).
//
// A View that changes the aggregation of ninelives.rpc.duration applies to
// every reader, the Source's too, and Collect then fails with an error naming
// the instrument; change the exporters' buckets with WithDurationBuckets
// instead. The Source's reader drops the instrument kinds it does not read;
// it still aggregates the provider's other counters and histograms (without
// reading them), so an application with many busy instruments of its own may
// give ninelives a MeterProvider of its own.
//
// grpc-go's own metrics plugin, google.golang.org/grpc/stats/opentelemetry,
// records per-channel latencies without the version dimension. Give it the
// same MeterProvider and both sets of metrics go out through the same
// readers; promexport's Example (withGRPCMetrics) shows it.
package telemetry
