// Package otlpexport pushes the ninelives metrics over OTLP/gRPC to an
// OpenTelemetry Collector or any OTLP backend. It is apart from package
// telemetry so that a client that does not push OTLP pulls in no OTLP
// exporter.
//
//	reader, err := otlpexport.NewReader(ctx, "localhost:4317",
//		otlpexport.WithInsecure(),                                  // a collector on the same host
//		otlpexport.WithHeaders(map[string]string{"x-api-key": key}), // sent with every push
//	)
//	mp := sdkmetric.NewMeterProvider(src.Option(), sdkmetric.WithReader(reader))
//	defer mp.Shutdown(ctx) // pushes a last time
//	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
//
// The reader, a telemetry.PeriodicReader, pushes every 15 s (WithInterval),
// cumulative as most backends expect, or delta when WithExporterOptions
// passes otlpmetricgrpc.WithTemporalitySelector; the instruments keep their
// OpenTelemetry names, units and attributes, and the latency histogram the
// explicit buckets telemetry advises. WithExporterOptions passes anything
// else (TLS credentials, compression, retries) to otlpmetricgrpc.
package otlpexport
