// Package stackbench measures what the whole ninelives stack costs a
// client's calls: the split, telemetry with the sentinel's Source, the
// shadow interceptor installed at rate 0 and a sentinel ticking beside
// the calls, against grpc's round_robin alone and round_robin with
// otelgrpc's client metrics, over loopback with 64 callers. It holds
// benchmarks only (`make bench`).
package stackbench
