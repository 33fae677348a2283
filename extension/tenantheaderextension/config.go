package tenantheaderextension // import "github.com/otelcol-mesh/otelcol-mesh/extension/tenantheaderextension"

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/component"
)

// Config defines which client-metadata key the tenant is read from and which
// header carries it on the wire.
type Config struct {
	// Header is the request header set to the tenant on every export
	// (lowercased on gRPC, where metadata keys are lower case).
	Header string `mapstructure:"header"`

	// MetadataKey is the client-metadata key of the request context that
	// holds the tenant (set by the tenantrouting processor and kept apart by
	// the batch processor's metadata_keys).
	MetadataKey string `mapstructure:"metadata_key"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration and reports every problem at once.
func (cfg *Config) Validate() error {
	var errs []error
	switch {
	case cfg.Header == "":
		errs = append(errs, errors.New("header must not be empty"))
	case !validToken(cfg.Header):
		errs = append(errs, fmt.Errorf("header %q is not a valid HTTP header name", cfg.Header))
	case strings.HasPrefix(strings.ToLower(cfg.Header), "grpc-"):
		errs = append(errs, fmt.Errorf("header %q uses the reserved grpc- prefix", cfg.Header))
	}
	if strings.TrimSpace(cfg.MetadataKey) == "" {
		errs = append(errs, errors.New("metadata_key must not be empty"))
	}
	return errors.Join(errs...)
}

// validToken reports whether s is an RFC 9110 token (a valid header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
