package rescue

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/internal/config"
)

// codeSet is the set of status codes that get a call rescued, as a bit set.
type codeSet uint32

// refused are the codes no call is rescued for, and why.
var refused = map[codes.Code]string{
	codes.OK:                 "not an error",
	codes.Canceled:           "the caller gave up",
	codes.InvalidArgument:    "the request is bad",
	codes.NotFound:           "the request names what does not exist",
	codes.AlreadyExists:      "the request names what exists",
	codes.PermissionDenied:   "the caller may not",
	codes.FailedPrecondition: "the system is not in the state the request needs",
	codes.OutOfRange:         "the request is out of range",
	codes.Unauthenticated:    "the caller is not authenticated",
}

func newCodeSet(cs []codes.Code) (codeSet, error) {
	var set codeSet
	for i, c := range cs {
		field := fmt.Sprintf("Codes[%d]", i)
		if c > codes.Unauthenticated {
			return 0, config.Errorf(ErrBadConfig, field, uint32(c), "not a gRPC status code (0..%d)", uint32(codes.Unauthenticated))
		}
		if why, ok := refused[c]; ok {
			return 0, config.Errorf(ErrBadConfig, field, c, "%s, whichever version answers: such a call is never rescued", why)
		}
		set |= 1 << c
	}
	return set, nil
}

// rescues reports whether err, the candidate's, gets the call rescued: its
// code is in the set and the caller's ctx is still live (a call whose
// caller has given up or run out of time is not sent again).
func (s codeSet) rescues(ctx context.Context, err error) bool {
	c := status.Code(err)
	return c <= codes.Unauthenticated && s&(1<<c) != 0 && ctx.Err() == nil
}
