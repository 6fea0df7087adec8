// Package method holds the one rule for which gRPC methods are safe to
// repeat: those whose descriptor in the protobuf registry says
// idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT, and those the user
// lists. The shadow interceptor copies only such methods and the rescue
// interceptor sends only such calls a second time, so both decide with the
// same Rule.
//
//	rule, err := method.NewRule(ErrBadConfig, "Methods", cfg.Methods) // a bad name is a config error naming Methods[i]
//	safe, md := rule.Decide("/ninelives.demo.v1.DemoService/GetItem")  // md is nil when the registry does not know it
package method
