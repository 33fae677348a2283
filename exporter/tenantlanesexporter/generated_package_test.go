// Hand-maintained in the format mdatagen v0.161.0 generates from metadata.yaml.

package tenantlanesexporter

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
