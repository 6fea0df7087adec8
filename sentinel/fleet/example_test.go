package fleet_test

import (
	"fmt"

	"github.com/ninelives-go/ninelives/sentinel/fleet"
)

// A rollout state as a replica reads it from etcd: a good one, and one
// that is rejected with the reason, the last good weights staying.
func ExampleDecodeState() {
	good := `{"format":1,"term":42,"seq":3,"leader":"sentinel-a","baseline":"stable","candidate":"canary",
	  "phase":"progressing","step":2,"stepName":"50%","stepStart":"2026-03-04T05:06:07Z",
	  "weights":[{"version":"stable","weight":5000},{"version":"canary","weight":5000}],"time":"2026-03-04T05:06:07Z"}`
	st, err := fleet.DecodeState([]byte(good))
	fmt.Println(st.Seq, st.Phase, st.Weight("canary"), err)

	bad := `{"format":1,"term":42,"seq":4,"leader":"sentinel-a","baseline":"stable","candidate":"canary",
	  "phase":"progressing","step":3,"weights":[{"version":"stable","weight":5000},{"version":"canary","weight":6000}]}`
	_, err = fleet.DecodeState([]byte(bad))
	fmt.Println(err)
	// Output:
	// 3 progressing 5000 <nil>
	// ninelives: bad fleet state: rollout state weights = [{stable 5000} {canary 6000}]: sum to 11000, want 10000
}
