// Package promexport serves the ninelives metrics at /metrics for Prometheus
// to scrape, from a registry of its own (never Prometheus' global one).
// It is apart from package telemetry so that a client that does not serve
// /metrics pulls in no Prometheus client.
//
//	src, err := telemetry.NewSource()   // the sentinel's reader
//	prom, err := promexport.New(nil)    // /metrics, in a registry of its own
//	mp := sdkmetric.NewMeterProvider(src.Option(), prom.Option())
//	defer mp.Shutdown(ctx)
//	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
//	http.Handle("/metrics", prom.Handler())
//
// The exporter carries telemetry's Producer, so the ninelives instruments
// reach it straight from telemetry's aggregates, outside the SDK's
// cardinality limit. Their names follow Prometheus conventions:
//
//	OpenTelemetry                 Prometheus
//	ninelives.rpc.calls           ninelives_rpc_calls_total
//	ninelives.rpc.duration        ninelives_rpc_duration_seconds (_bucket, _sum, _count)
//	ninelives.shadow.comparisons  ninelives_shadow_comparisons_total
//	ninelives.shadow.dropped      ninelives_shadow_dropped_total
//	ninelives.split.weight        ninelives_split_weight
//	ninelives.split.fallbacks     ninelives_split_fallbacks_total
//	ninelives.rpc.unanswered      ninelives_rpc_unanswered_total
//	ninelives.sentinel.decisions  ninelives_sentinel_decisions_total
//
// and attribute keys become labels the same way (ninelives_version,
// ninelives_role, rpc_method, rpc_grpc_status_code, …). The latency
// histogram has the explicit buckets telemetry advises,
// telemetry.DurationBuckets unless telemetry.WithDurationBuckets changes
// them. A Grafana dashboard over these names is in
// cookbook/dashboards/ninelives.json; its test here checks every query
// against a real scrape.
//
// Package promsource reads the same figures back from a Prometheus server
// that scrapes many client replicas, for a sentinel that runs apart from
// them.
package promexport
