package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

var componentKinds = []string{"receivers", "processors", "exporters", "connectors", "extensions"}

// componentModules turns `otelcol-mesh components` output into
// "kind module" entries, one per component.
func componentModules(t *testing.T, out []byte) []string {
	t.Helper()
	type component struct {
		Name   string `yaml:"name"`
		Module string `yaml:"module"`
	}
	var listed struct {
		Receivers  []component `yaml:"receivers"`
		Processors []component `yaml:"processors"`
		Exporters  []component `yaml:"exporters"`
		Connectors []component `yaml:"connectors"`
		Extensions []component `yaml:"extensions"`
	}
	require.NoError(t, yaml.Unmarshal(out, &listed))
	byKind := map[string][]component{
		"receivers": listed.Receivers, "processors": listed.Processors, "exporters": listed.Exporters,
		"connectors": listed.Connectors, "extensions": listed.Extensions,
	}
	var entries []string
	for _, kind := range componentKinds {
		for _, c := range byKind[kind] {
			entries = append(entries, kind+" "+c.Module)
		}
	}
	require.NotEmpty(t, entries)
	return entries
}

// manifestModules turns builder-config.yaml into the same "kind module" form.
func manifestModules(t *testing.T, manifest []byte) []string {
	t.Helper()
	var parsed map[string]any
	require.NoError(t, yaml.Unmarshal(manifest, &parsed))
	var entries []string
	for _, kind := range componentKinds {
		list, _ := parsed[kind].([]any)
		for _, item := range list {
			m, ok := item.(map[string]any)
			require.True(t, ok, "%s entry is not a mapping", kind)
			gomod, ok := m["gomod"].(string)
			require.True(t, ok, "%s entry has no gomod", kind)
			entries = append(entries, kind+" "+gomod)
		}
	}
	require.NotEmpty(t, entries)
	return entries
}
