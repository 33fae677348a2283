// Package validate checks everything under deploy/ offline: it renders the
// Kustomize trees with the kustomize API (the same engine as `kubectl
// kustomize`), validates custom resources against the upstream CRD schemas in
// testdata/schemas (SOURCES.md says which upstream release) and decodes core objects strictly into the k8s.io/api types,
// so a misspelled field fails instead of being dropped by the API server.
//
// It is a module of its own so that kustomize, the Kubernetes API types and the
// JSON Schema validator never enter the collector's module or binary.
package validate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one rendered Kubernetes object.
type Object struct {
	// JSON is the object as JSON (from the YAML kustomize printed).
	JSON []byte
	// Map is JSON decoded into maps, slices and json.Number values.
	Map map[string]any
}

// GVK returns the object's group, version and kind.
func (o Object) GVK() schema.GroupVersionKind {
	apiVersion, _ := o.Map["apiVersion"].(string)
	kind, _ := o.Map["kind"].(string)
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}

// Name returns "Kind namespace/name" for messages.
func (o Object) Name() string {
	md, _ := o.Map["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	if ns != "" {
		name = ns + "/" + name
	}
	return o.GVK().Kind + " " + name
}

// Render runs kustomize on dir (a folder holding a kustomization.yaml) with the
// default options of `kubectl kustomize` and returns the objects it printed.
func Render(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return SplitYAML(out)
}

// SplitYAML decodes a multi-document YAML stream into objects, skipping empty
// documents.
func SplitYAML(data []byte) ([]Object, error) {
	var objs []Object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, err
		}
		if string(js) == "null" {
			continue
		}
		m, err := decodeJSONMap(js)
		if err != nil {
			return nil, err
		}
		objs = append(objs, Object{JSON: js, Map: m})
	}
}

func decodeJSONMap(js []byte) (map[string]any, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("document is a %T, not an object", v)
	}
	return m, nil
}

// Validator validates rendered objects: CRs against CRD schemas, the rest by
// strict decoding into the registered k8s.io/api types.
type Validator struct {
	crds  map[schema.GroupVersionKind]*jsonschema.Schema
	core  runtime.Decoder
	known *runtime.Scheme
}

// NewValidator loads every CRD file in schemaDir and registers the core API
// groups deploy/ uses.
func NewValidator(schemaDir string) (*Validator, error) {
	sc := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, rbacv1.AddToScheme, policyv1.AddToScheme,
		autoscalingv2.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme,
		batchv1.AddToScheme,
	} {
		if err := add(sc); err != nil {
			return nil, err
		}
	}
	v := &Validator{
		crds:  map[schema.GroupVersionKind]*jsonschema.Schema{},
		core:  serializer.NewCodecFactory(sc, serializer.EnableStrict).UniversalDeserializer(),
		known: sc,
	}
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRD files in %s", schemaDir)
	}
	for _, f := range files {
		if err := v.addCRDFile(f); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return v, nil
}

// Kinds lists the CRD kinds the validator knows, for messages.
func (v *Validator) Kinds() []string {
	var out []string
	for gvk := range v.crds {
		out = append(out, gvk.String())
	}
	sort.Strings(out)
	return out
}

func (v *Validator) addCRDFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	docs, err := SplitYAML(data)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if d.GVK().Kind != "CustomResourceDefinition" {
			continue
		}
		spec, _ := d.Map["spec"].(map[string]any)
		group, _ := spec["group"].(string)
		names, _ := spec["names"].(map[string]any)
		kind, _ := names["kind"].(string)
		versions, _ := spec["versions"].([]any)
		for _, vv := range versions {
			ver, _ := vv.(map[string]any)
			name, _ := ver["name"].(string)
			sch, _ := ver["schema"].(map[string]any)
			root, ok := sch["openAPIV3Schema"].(map[string]any)
			if !ok {
				return fmt.Errorf("%s %s: no openAPIV3Schema", kind, name)
			}
			strict := StrictSchema(root)
			// The API server always accepts apiVersion, kind and metadata at
			// the root, whether or not a CRD's schema lists them (Istio's don't).
			props, _ := strict["properties"].(map[string]any)
			for k, typ := range map[string]string{"apiVersion": "string", "kind": "string", "metadata": "object"} {
				if _, ok := props[k]; !ok && props != nil {
					props[k] = map[string]any{"type": typ}
				}
			}
			// Object metadata is checked by strict decoding into ObjectMeta.
			c := jsonschema.NewCompiler()
			c.DefaultDraft(jsonschema.Draft4)
			url := fmt.Sprintf("mem://%s/%s/%s.json", group, name, kind)
			if err := c.AddResource(url, strict); err != nil {
				return err
			}
			compiled, err := c.Compile(url)
			if err != nil {
				return fmt.Errorf("%s %s: %w", kind, name, err)
			}
			v.crds[schema.GroupVersionKind{Group: group, Version: name, Kind: kind}] = compiled
		}
	}
	return nil
}

// StrictSchema returns a deep copy of a CRD's structural schema turned into
// JSON Schema with the API server's strict field validation:
//   - an object with `properties` and neither `additionalProperties` nor
//     `x-kubernetes-preserve-unknown-fields: true` rejects unknown fields
//     (the API server prunes them, or refuses them under strict validation);
//   - `nullable: true` allows null;
//   - `x-kubernetes-int-or-string: true` without anyOf allows both.
func StrictSchema(s map[string]any) map[string]any {
	out := make(map[string]any, len(s)+1)
	for k, val := range s {
		out[k] = strictValue(k, val)
	}
	preserve, _ := s["x-kubernetes-preserve-unknown-fields"].(bool)
	if _, hasProps := s["properties"]; hasProps && !preserve {
		if _, ok := s["additionalProperties"]; !ok {
			out["additionalProperties"] = false
		}
	}
	if n, _ := s["nullable"].(bool); n {
		if t, ok := s["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
	}
	if ios, _ := s["x-kubernetes-int-or-string"].(bool); ios {
		if _, ok := s["anyOf"]; !ok {
			delete(out, "type")
			out["anyOf"] = []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}
		}
	}
	return out
}

func strictValue(key string, val any) any {
	switch key {
	case "properties", "patternProperties", "definitions":
		// Maps of name -> schema.
		if m, ok := val.(map[string]any); ok {
			cp := make(map[string]any, len(m))
			for name, sub := range m {
				cp[name] = strictAny(sub)
			}
			return cp
		}
	case "items", "additionalProperties", "not":
		return strictAny(val)
	case "allOf", "anyOf", "oneOf":
		if l, ok := val.([]any); ok {
			cp := make([]any, len(l))
			for i, sub := range l {
				cp[i] = strictAny(sub)
			}
			return cp
		}
	}
	return val
}

// strictAny applies StrictSchema to a schema; booleans and other values pass.
func strictAny(v any) any {
	if m, ok := v.(map[string]any); ok {
		return StrictSchema(m)
	}
	return v
}

// ErrNoSchema means an object is neither a registered core type nor a kind
// with a CRD schema: it cannot be checked, so it is an error too.
var ErrNoSchema = errors.New("no schema")

// Validate checks one object. A custom resource is validated against its CRD
// version's schema (plus strict ObjectMeta); a core object is decoded strictly.
func (v *Validator) Validate(o Object) error {
	gvk := o.GVK()
	if sch, ok := v.crds[gvk]; ok {
		var errs []error
		if err := sch.Validate(o.Map); err != nil {
			errs = append(errs, err)
		}
		if err := strictMetadata(o); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	if !v.known.Recognizes(gvk) {
		return fmt.Errorf("%s: %w (not a registered core type, no CRD in the schema folder; known CRDs: %s)",
			gvk, ErrNoSchema, strings.Join(v.Kinds(), ", "))
	}
	_, _, err := v.core.Decode(o.JSON, nil, nil)
	return err
}

func strictMetadata(o Object) error {
	raw, ok := o.Map["metadata"]
	if !ok {
		return errors.New("metadata: missing")
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	var md metav1.ObjectMeta
	strictErrs, err := sigsjson.UnmarshalStrict(js, &md)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("metadata: %w", errors.Join(strictErrs...))
	}
	if md.Name == "" {
		return errors.New("metadata.name: missing")
	}
	return nil
}
