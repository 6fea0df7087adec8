package errcodes

import (
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/internal/config"
)

// Max is the largest gRPC status code.
const Max = codes.Unauthenticated

// Set is a set of gRPC status codes. The zero value is empty.
type Set struct{ set [Max + 1]bool }

// New returns the set of cs. A code that is not a gRPC status code is a
// config error of kind for field, such as "WithErrorCodes", indexed by its
// place in cs.
func New(kind error, field string, cs []codes.Code) (Set, error) {
	var s Set
	for i, code := range cs {
		if code > Max {
			return Set{}, config.Errorf(kind, fmt.Sprintf("%s[%d]", field, i), uint32(code),
				"not a gRPC status code (0..%d)", uint32(Max))
		}
		s.set[code] = true
	}
	return s, nil
}

// Has reports whether code is in the set.
func (s Set) Has(code codes.Code) bool { return code <= Max && s.set[code] }
