// Stand-in for a contrib test-only module that the Go module proxy does not
// serve at v0.161.0. Only k8sattributesprocessor's integration test imports
// it, so ocb's `go mod tidy` needs it to resolve; nothing in the binary uses it.
module github.com/open-telemetry/opentelemetry-collector-contrib/pkg/semconvtest

go 1.26
