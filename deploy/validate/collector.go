package validate

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// ComponentKinds are the collector config sections that hold components.
var ComponentKinds = []string{"receivers", "processors", "exporters", "extensions", "connectors"}

// Components maps a config section ("receivers", ...) to the component types
// a binary has.
type Components map[string]map[string]bool

// BinaryComponents runs `<bin> components` and returns what the binary has.
func BinaryComponents(ctx context.Context, bin string) (Components, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "components")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s components: %w: %s", bin, err, stderr.String())
	}
	var out map[string]any
	if err := yaml.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("%s components: %w", bin, err)
	}
	c := Components{}
	for _, kind := range ComponentKinds {
		c[kind] = map[string]bool{}
		list, _ := out[kind].([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			if name, ok := m["name"].(string); ok {
				c[kind][name] = true
			}
		}
	}
	return c, nil
}

// ComponentType is the type part of a component ID ("otlp_grpc/tempo" -> "otlp_grpc").
func ComponentType(id string) string {
	t, _, _ := strings.Cut(id, "/")
	return t
}

// Missing lists, as "kind/type", the components cfg uses that c lacks.
func (c Components) Missing(cfg map[string]any) []string {
	set := map[string]bool{}
	for _, kind := range ComponentKinds {
		sec, _ := cfg[kind].(map[string]any)
		for id := range sec {
			if !c[kind][ComponentType(id)] {
				set[kind+"/"+ComponentType(id)] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DropSet turns Missing's "kind/type" list into Without's argument.
func DropSet(missing []string) map[string]map[string]bool {
	drop := map[string]map[string]bool{}
	for _, m := range missing {
		kind, typ, _ := strings.Cut(m, "/")
		if drop[kind] == nil {
			drop[kind] = map[string]bool{}
		}
		drop[kind][typ] = true
	}
	return drop
}

// Without returns a deep copy of cfg without the components whose type is in
// drop (keyed by section), and without every reference to them: service
// extensions, pipeline lists, an exporter's auth.authenticator and
// sending_queue.storage.
func Without(cfg map[string]any, drop map[string]map[string]bool) (map[string]any, error) {
	out, err := deepCopy(cfg)
	if err != nil {
		return nil, err
	}
	removed := map[string]bool{} // component IDs removed, any kind
	for _, kind := range ComponentKinds {
		sec, _ := out[kind].(map[string]any)
		for id := range sec {
			if drop[kind][ComponentType(id)] {
				delete(sec, id)
				removed[id] = true
			}
		}
	}
	svc, _ := out["service"].(map[string]any)
	if exts, ok := svc["extensions"].([]any); ok {
		svc["extensions"] = filterIDs(exts, removed)
	}
	pipes, _ := svc["pipelines"].(map[string]any)
	for _, p := range pipes {
		pm, _ := p.(map[string]any)
		for _, k := range []string{"receivers", "processors", "exporters"} {
			if l, ok := pm[k].([]any); ok {
				pm[k] = filterIDs(l, removed)
			}
		}
	}
	for _, kind := range []string{"receivers", "exporters"} {
		sec, _ := out[kind].(map[string]any)
		for _, c := range sec {
			cm, _ := c.(map[string]any)
			if auth, ok := cm["auth"].(map[string]any); ok {
				if a, _ := auth["authenticator"].(string); removed[a] {
					delete(cm, "auth")
				}
			}
			if q, ok := cm["sending_queue"].(map[string]any); ok {
				if s, _ := q["storage"].(string); removed[s] {
					delete(q, "storage")
				}
			}
		}
	}
	return out, nil
}

func filterIDs(l []any, removed map[string]bool) []any {
	out := make([]any, 0, len(l))
	for _, v := range l {
		if s, _ := v.(string); removed[s] {
			continue
		}
		out = append(out, v)
	}
	return out
}

func deepCopy(m map[string]any) (map[string]any, error) {
	b, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CollectorConfig returns spec.config of an OpenTelemetryCollector object.
func CollectorConfig(o Object) (map[string]any, error) {
	spec, _ := o.Map["spec"].(map[string]any)
	cfg, ok := spec["config"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: spec.config is missing", o.Name())
	}
	return deepCopy(cfg)
}

// SetPath sets a nested value, creating maps on the way.
func SetPath(m map[string]any, value any, path ...string) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = value
}

// GetPath reads a nested value; ok is false if any step is missing.
func GetPath(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = mm[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}
