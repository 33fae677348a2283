package meshattr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/client"
)

func TestTenantFromMetadata(t *testing.T) {
	tests := []struct {
		name   string
		md     map[string][]string
		tenant string
		want   TenantRefusal
	}{
		{"one value", map[string][]string{"x-scope-orgid": {"team-a"}}, "team-a", TenantFound},
		{"key lookup ignores case", map[string][]string{"X-Scope-OrgID": {"team-a"}}, "team-a", TenantFound},
		{"no key", map[string][]string{"other": {"x"}}, "", NoTenant},
		{"empty value", map[string][]string{"x-scope-orgid": {""}}, "", NoTenant},
		{"two values", map[string][]string{"x-scope-orgid": {"a", "b"}}, "", MultipleTenants},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant, r := TenantFromMetadata(client.NewMetadata(tt.md), DefaultTenantMetadataKey)
			assert.Equal(t, tt.want, r)
			assert.Equal(t, tt.tenant, tenant)
		})
	}
}
