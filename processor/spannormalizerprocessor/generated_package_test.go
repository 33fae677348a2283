// Hand-maintained in the format mdatagen v0.161.0 generates from
// metadata.yaml (mdatagen is not installable here).

package spannormalizerprocessor

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
