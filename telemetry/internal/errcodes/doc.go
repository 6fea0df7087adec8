// Package errcodes is the set of gRPC status codes that a ninelives metric
// source counts as errors, shared by the telemetry Source and promsource so
// that both check and count codes alike.
//
//	set, err := errcodes.New(ErrBadConfig, "WithErrorCodes", cs) // a config error names cs[i]
//	if set.Has(status.Code(rpcErr)) { … }                        // an error of the release
package errcodes
