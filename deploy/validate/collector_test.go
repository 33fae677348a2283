package validate

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The trees whose OpenTelemetryCollector config must pass `otelcol-mesh validate`.
var collectorTrees = []string{"base", "overlays/dev", "overlays/prod"}

// meshBinary returns $OTELCOL_MESH_BIN. Unset: the test is skipped with a
// message, except under CI (CI=true), where that is a failure, so CI cannot
// pass without running it.
func meshBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_MESH_BIN")
	if bin == "" {
		msg := "OTELCOL_MESH_BIN is not set: this test needs the otelcol-mesh binary " +
			"(make build; `make test` sets OTELCOL_MESH_BIN=_build/otelcol-mesh)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("OTELCOL_MESH_BIN=%s: %v", bin, err)
	}
	return bin
}

func writeConfig(t *testing.T, cfg map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runValidate runs `<bin> validate --config <file>` and returns its output and error.
func runValidate(t *testing.T, bin string, cfg map[string]any) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "validate", "--config", writeConfig(t, cfg))
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

func collectorConfig(t *testing.T, tree string) map[string]any {
	t.Helper()
	cfg, err := CollectorConfig(find(t, render(t, tree), "OpenTelemetryCollector", "otelcol-mesh"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The collector config embedded in each rendered OpenTelemetryCollector is
// what the binary accepts: `otelcol-mesh validate` on the extracted config.
// Components the config names that the binary lacks are listed and fail the
// test; the rest of the config is still validated without them, so a typo in
// an upstream component's settings is caught meanwhile.
func TestCollectorConfigValidates(t *testing.T) {
	bin := meshBinary(t)
	have, err := BinaryComponents(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tree := range collectorTrees {
		t.Run(tree, func(t *testing.T) {
			cfg := collectorConfig(t, tree)
			missing := have.Missing(cfg)
			if len(missing) == 0 {
				if out, err := runValidate(t, bin, cfg); err != nil {
					t.Fatalf("otelcol-mesh validate rejected the %s config: %v\n%s", tree, err, out)
				}
				return
			}
			t.Errorf("the %s config uses components that %s does not have: %s",
				tree, filepath.Base(bin), strings.Join(missing, ", "))
			rest, err := Without(cfg, DropSet(missing))
			if err != nil {
				t.Fatal(err)
			}
			if out, err := runValidate(t, bin, rest); err != nil {
				t.Errorf("without %s, otelcol-mesh validate still rejects the %s config: %v\n%s",
					strings.Join(missing, ", "), tree, err, out)
			}
		})
	}
}

// The binary's validation is strict: a misspelled key in the embedded config
// is rejected, so the test above can fail.
func TestCollectorConfigTypoIsRejected(t *testing.T) {
	bin := meshBinary(t)
	cfg := collectorConfig(t, "base")
	batch, ok := GetPath(cfg, "exporters", "otlp_grpc/tempo", "sending_queue", "batch")
	if !ok {
		t.Fatal("base config's exporter does not batch")
	}
	batch.(map[string]any)["max_sise"] = 10
	// Keep only components the binary has, so the typo is the only problem.
	have, err := BinaryComponents(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = Without(cfg, DropSet(have.Missing(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runValidate(t, bin, cfg)
	if err == nil {
		t.Fatal("otelcol-mesh validate accepted a config with exporters.otlp_grpc/tempo.sending_queue.batch.max_sise")
	}
	if !strings.Contains(out, "max_sise") {
		t.Fatalf("validate failed, but not on the typo: %s", out)
	}
}
