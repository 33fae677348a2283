// Package metadatacheck compares a component's metadata.yaml with the code and
// documentation that mdatagen would generate from it. Until mdatagen can run
// here those files are written by hand; each component's metadata test calls
// Problems so that the hand-written files cannot drift from metadata.yaml.
//
// The telemetry check is behavioural: it builds the component's
// TelemetryBuilder on an SDK meter provider, records a distinct value on every
// instrument (or registers a callback for asynchronous ones), reads the
// metrics back and compares name, unit, description, kind and value.
//
// Only tests import this package.
package metadatacheck // import "github.com/otelcol-mesh/otelcol-mesh/internal/metadatacheck"

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.yaml.in/yaml/v3"
)

// TelemetryBuilder is what every internal/metadata TelemetryBuilder has.
type TelemetryBuilder interface {
	Shutdown()
}

// Component is what a component's internal/metadata package and factory
// declare; Problems compares it with metadata.yaml and documentation.md.
type Component struct {
	// Dir holds metadata.yaml and documentation.md; "." from the component's own test.
	Dir string
	// Type is metadata.Type.
	Type component.Type
	// ScopeName is metadata.ScopeName: the component's Go import path.
	ScopeName string
	// Stability maps each signal ("traces", "metrics", "logs", or
	// "extension") to its generated_status.go constant.
	Stability map[string]component.StabilityLevel
	// Factory is the component's NewFactory().
	Factory component.Factory
	// NewTelemetryBuilder wraps metadata.NewTelemetryBuilder.
	NewTelemetryBuilder func(component.TelemetrySettings) (TelemetryBuilder, error)
}

// Metadata is the part of metadata.yaml that Problems checks.
type Metadata struct {
	Type   string `yaml:"type"`
	Status struct {
		Class     string              `yaml:"class"`
		Stability map[string][]string `yaml:"stability"`
	} `yaml:"status"`
	Attributes map[string]Attribute `yaml:"attributes"`
	Telemetry  struct {
		Metrics map[string]Metric `yaml:"metrics"`
	} `yaml:"telemetry"`
}

// Attribute is one entry of metadata.yaml's top-level attributes.
type Attribute struct {
	Description string   `yaml:"description"`
	Type        string   `yaml:"type"`
	Enum        []string `yaml:"enum"`
}

// Metric is one entry of metadata.yaml's telemetry.metrics.
type Metric struct {
	Enabled     bool       `yaml:"enabled"`
	Stability   string     `yaml:"stability"`
	Description string     `yaml:"description"`
	Unit        string     `yaml:"unit"`
	Sum         *Aggregate `yaml:"sum"`
	Gauge       *Aggregate `yaml:"gauge"`
	Histogram   *Aggregate `yaml:"histogram"`
	Attributes  []string   `yaml:"attributes"`
	Prefix      any        `yaml:"prefix"`
}

// Aggregate is the sum, gauge or histogram block of a metric.
type Aggregate struct {
	ValueType string `yaml:"value_type"`
	Monotonic bool   `yaml:"monotonic"`
	Async     bool   `yaml:"async"`
}

// kind is an instrument as metadata.yaml describes it and as the Go type of
// a TelemetryBuilder field implies it.
type kind struct {
	instrument string // sum, gauge, histogram
	valueType  string // int, double
	monotonic  bool   // sums only
	async      bool
}

func (k kind) String() string {
	s := k.valueType + " " + k.instrument
	if k.instrument == "sum" {
		s += fmt.Sprintf(" (monotonic=%t)", k.monotonic)
	}
	if k.async {
		s = "async " + s
	}
	return s
}

// kinds maps every instrument type mdatagen puts in a TelemetryBuilder.
var kinds = map[reflect.Type]kind{
	reflect.TypeFor[metric.Int64Counter]():                   {"sum", "int", true, false},
	reflect.TypeFor[metric.Int64UpDownCounter]():             {"sum", "int", false, false},
	reflect.TypeFor[metric.Int64Gauge]():                     {"gauge", "int", false, false},
	reflect.TypeFor[metric.Int64Histogram]():                 {"histogram", "int", false, false},
	reflect.TypeFor[metric.Int64ObservableCounter]():         {"sum", "int", true, true},
	reflect.TypeFor[metric.Int64ObservableUpDownCounter]():   {"sum", "int", false, true},
	reflect.TypeFor[metric.Int64ObservableGauge]():           {"gauge", "int", false, true},
	reflect.TypeFor[metric.Float64Counter]():                 {"sum", "double", true, false},
	reflect.TypeFor[metric.Float64UpDownCounter]():           {"sum", "double", false, false},
	reflect.TypeFor[metric.Float64Gauge]():                   {"gauge", "double", false, false},
	reflect.TypeFor[metric.Float64Histogram]():               {"histogram", "double", false, false},
	reflect.TypeFor[metric.Float64ObservableCounter]():       {"sum", "double", true, true},
	reflect.TypeFor[metric.Float64ObservableUpDownCounter](): {"sum", "double", false, true},
	reflect.TypeFor[metric.Float64ObservableGauge]():         {"gauge", "double", false, true},
}

// yamlKind returns the kind metadata.yaml declares for m.
func yamlKind(m Metric) (kind, error) {
	var blocks []string
	var k kind
	if m.Sum != nil {
		blocks = append(blocks, "sum")
		k = kind{"sum", m.Sum.ValueType, m.Sum.Monotonic, m.Sum.Async}
	}
	if m.Gauge != nil {
		blocks = append(blocks, "gauge")
		k = kind{"gauge", m.Gauge.ValueType, false, m.Gauge.Async}
	}
	if m.Histogram != nil {
		blocks = append(blocks, "histogram")
		k = kind{"histogram", m.Histogram.ValueType, false, m.Histogram.Async}
	}
	if len(blocks) != 1 {
		return kind{}, fmt.Errorf("needs exactly one of sum, gauge, histogram; has %v", blocks)
	}
	if k.valueType != "int" && k.valueType != "double" {
		return kind{}, fmt.Errorf("value_type %q is neither int nor double", k.valueType)
	}
	if k.instrument == "histogram" && k.async {
		return kind{}, errors.New("a histogram cannot be async")
	}
	return k, nil
}

// stabilityLevels are the telemetry stability values mdatagen accepts: the
// suffix it appends to the description in code, and the word in documentation.md.
var stabilityLevels = map[string]struct{ suffix, word string }{
	"development": {" [Development]", "Development"},
	"alpha":       {" [Alpha]", "Alpha"},
	"beta":        {" [Beta]", "Beta"},
	"stable":      {"", "Stable"},
	"deprecated":  {" [Deprecated]", "Deprecated"},
}

// MetricName is the name mdatagen gives the telemetry.metrics key.
func MetricName(key string) string { return "otelcol_" + key }

// FieldName is the TelemetryBuilder field (and Register…Callback infix)
// mdatagen derives from the telemetry.metrics key.
func FieldName(key string) string {
	var b strings.Builder
	for part := range strings.FieldsFuncSeq(key, func(r rune) bool { return r == '_' || r == '.' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// Load reads dir/metadata.yaml (keys Metadata does not name are ignored).
func Load(dir string) (Metadata, error) {
	var md Metadata
	f, err := os.Open(filepath.Join(dir, "metadata.yaml"))
	if err != nil {
		return md, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	if err := dec.Decode(&md); err != nil {
		return md, fmt.Errorf("metadata.yaml: %w", err)
	}
	return md, nil
}

// Problems returns every disagreement between c and the metadata.yaml and
// documentation.md in c.Dir; none means they match.
func Problems(c Component) []string {
	md, err := Load(c.Dir)
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	p = append(p, statusProblems(c, md)...)
	p = append(p, metadataProblems(md)...)
	p = append(p, telemetryProblems(c, md)...)
	p = append(p, documentationProblems(c.Dir, md)...)
	return p
}

func statusProblems(c Component, md Metadata) []string {
	var p []string
	if md.Type != c.Type.String() {
		p = append(p, fmt.Sprintf("metadata.yaml type %q, metadata.Type %q", md.Type, c.Type))
	}
	if c.Factory != nil && c.Factory.Type() != c.Type {
		p = append(p, fmt.Sprintf("factory type %q, metadata.Type %q", c.Factory.Type(), c.Type))
	}
	want := map[string]component.StabilityLevel{}
	for level, signals := range md.Status.Stability {
		var sl component.StabilityLevel
		if err := sl.UnmarshalText([]byte(level)); err != nil {
			p = append(p, fmt.Sprintf("metadata.yaml status.stability: %v", err))
			continue
		}
		for _, s := range signals {
			want[s] = sl
		}
	}
	for _, s := range sortedKeys(want, c.Stability) {
		w, inYAML := want[s]
		g, inCode := c.Stability[s]
		switch {
		case !inYAML:
			p = append(p, fmt.Sprintf("generated_status.go has a %s stability (%v) that metadata.yaml lacks", s, g))
		case !inCode:
			p = append(p, fmt.Sprintf("metadata.yaml has %s stability %v that generated_status.go lacks", s, w))
		case w != g:
			p = append(p, fmt.Sprintf("%s stability: metadata.yaml %v, generated_status.go %v", s, w, g))
		}
	}
	p = append(p, factoryStabilityProblems(c.Factory, md.Status.Class, want)...)
	if c.ScopeName != "" {
		if path, err := importPath(c.Dir); err != nil {
			p = append(p, err.Error())
		} else if path != c.ScopeName {
			p = append(p, fmt.Sprintf("metadata.ScopeName %q, but the package is %q", c.ScopeName, path))
		}
	}
	return p
}

// factoryStabilityProblems checks that the factory reports, per signal, the
// stability metadata.yaml declares (undefined for a signal it lacks).
func factoryStabilityProblems(f component.Factory, class string, want map[string]component.StabilityLevel) []string {
	if f == nil {
		return nil
	}
	type (
		traces interface {
			TracesStability() component.StabilityLevel
		}
		metrics interface {
			MetricsStability() component.StabilityLevel
		}
		logs interface {
			LogsStability() component.StabilityLevel
		}
		extension interface {
			Stability() component.StabilityLevel
		}
	)
	got := map[string]component.StabilityLevel{}
	switch class {
	case "processor", "receiver", "exporter":
		t, ok1 := f.(traces)
		m, ok2 := f.(metrics)
		l, ok3 := f.(logs)
		if !ok1 || !ok2 || !ok3 {
			return []string{fmt.Sprintf("class %s, but the factory (%T) has no per-signal stabilities", class, f)}
		}
		got["traces"], got["metrics"], got["logs"] = t.TracesStability(), m.MetricsStability(), l.LogsStability()
	case "extension":
		e, ok := f.(extension)
		if !ok {
			return []string{fmt.Sprintf("class extension, but the factory (%T) has no Stability()", f)}
		}
		got["extension"] = e.Stability()
	default:
		return []string{fmt.Sprintf("metadata.yaml status.class %q is not checked", class)}
	}
	var p []string
	for _, s := range sortedKeys(got) {
		if w := want[s]; w != got[s] { // a missing signal wants StabilityLevelUndefined
			p = append(p, fmt.Sprintf("factory %s stability %v, metadata.yaml %v", s, got[s], w))
		}
	}
	for _, s := range sortedKeys(want) {
		if _, ok := got[s]; !ok {
			p = append(p, fmt.Sprintf("metadata.yaml has %s stability, which a %s factory cannot have", s, class))
		}
	}
	return p
}

// metadataProblems checks metadata.yaml on its own, as mdatagen would.
func metadataProblems(md Metadata) []string {
	var p []string
	for _, key := range sortedKeys(md.Telemetry.Metrics) {
		m := md.Telemetry.Metrics[key]
		if _, err := yamlKind(m); err != nil {
			p = append(p, fmt.Sprintf("metric %s: %v", key, err))
		}
		if _, ok := stabilityLevels[m.Stability]; !ok {
			p = append(p, fmt.Sprintf("metric %s: stability %q is none of development, alpha, beta, stable, deprecated", key, m.Stability))
		}
		if m.Description == "" || m.Unit == "" {
			p = append(p, fmt.Sprintf("metric %s: needs a description and a unit", key))
		}
		if m.Prefix != nil {
			p = append(p, fmt.Sprintf("metric %s: prefix is not supported by this check", key))
		}
		for _, a := range m.Attributes {
			if _, ok := md.Attributes[a]; !ok {
				p = append(p, fmt.Sprintf("metric %s: attribute %q is not defined under attributes", key, a))
			}
		}
	}
	return p
}

// telemetryProblems builds the TelemetryBuilder, records value i+1 on the
// i-th metric of metadata.yaml (sorted by key) and reads every metric back.
func telemetryProblems(c Component, md Metadata) []string {
	if c.NewTelemetryBuilder == nil {
		return []string{"Component.NewTelemetryBuilder is nil"}
	}
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	tel := componenttest.NewTelemetry(componenttest.WithMetricOptions(sdkmetric.WithReader(reader)))
	defer func() { _ = tel.Shutdown(ctx) }()
	tb, err := c.NewTelemetryBuilder(tel.NewTelemetrySettings())
	if err != nil {
		return []string{fmt.Sprintf("NewTelemetryBuilder: %v", err)}
	}
	defer tb.Shutdown()

	var p []string
	bv := reflect.ValueOf(tb)
	if bv.Kind() != reflect.Pointer || bv.Elem().Kind() != reflect.Struct {
		return []string{fmt.Sprintf("TelemetryBuilder is %T, not a pointer to a struct", tb)}
	}
	sv := bv.Elem()
	fields := map[string]kind{} // exported instrument fields not (yet) matched to metadata.yaml
	for i := 0; i < sv.NumField(); i++ {
		f := sv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		k, ok := kinds[f.Type]
		if !ok {
			p = append(p, fmt.Sprintf("TelemetryBuilder.%s has type %v, which is no metric instrument", f.Name, f.Type))
			continue
		}
		fields[f.Name] = k
	}

	keys := sortedKeys(md.Telemetry.Metrics)
	values := map[string]int64{}
	for i, key := range keys {
		m := md.Telemetry.Metrics[key]
		name := FieldName(key)
		got, ok := fields[name]
		if !ok {
			p = append(p, fmt.Sprintf("metric %s: TelemetryBuilder has no instrument field %s", key, name))
			continue
		}
		delete(fields, name)
		want, err := yamlKind(m)
		if err != nil {
			continue // reported by metadataProblems
		}
		if got != want {
			p = append(p, fmt.Sprintf("metric %s: metadata.yaml declares %v, TelemetryBuilder.%s is %v", key, want, name, got))
			continue
		}
		v := int64(i + 1)
		if err := record(ctx, bv, name, got, v); err != nil {
			p = append(p, fmt.Sprintf("metric %s: %v", key, err))
			continue
		}
		values[key] = v
	}
	for _, name := range sortedKeys(fields) {
		p = append(p, fmt.Sprintf("TelemetryBuilder.%s (%v) is not in metadata.yaml telemetry.metrics", name, fields[name]))
	}

	for _, key := range keys {
		v, ok := values[key]
		if !ok {
			continue
		}
		m := md.Telemetry.Metrics[key]
		got, err := tel.GetMetric(MetricName(key))
		if err != nil {
			p = append(p, fmt.Sprintf("metric %s: recorded on TelemetryBuilder.%s, but no metric %s: %v", key, FieldName(key), MetricName(key), err))
			continue
		}
		k, _ := yamlKind(m)
		p = append(p, compare(key, m, k, v, got)...)
	}

	// Whatever the builder exported, under which scope.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return append(p, fmt.Sprintf("collect: %v", err))
	}
	for _, sm := range rm.ScopeMetrics {
		for _, got := range sm.Metrics {
			key, ok := strings.CutPrefix(got.Name, "otelcol_")
			if _, inYAML := md.Telemetry.Metrics[key]; !ok || !inYAML {
				p = append(p, fmt.Sprintf("the TelemetryBuilder exports %s, which metadata.yaml lacks", got.Name))
			}
			if c.ScopeName != "" && sm.Scope.Name != c.ScopeName {
				p = append(p, fmt.Sprintf("%s is exported under scope %q, not metadata.ScopeName %q", got.Name, sm.Scope.Name, c.ScopeName))
			}
		}
	}
	return p
}

// record records v on the builder field name, whose kind is k: Add or Record
// for a synchronous instrument, Register<name>Callback for an asynchronous one.
func record(ctx context.Context, builder reflect.Value, name string, k kind, v int64) error {
	inst := builder.Elem().FieldByName(name).Interface()
	if inst == nil {
		return fmt.Errorf("TelemetryBuilder.%s is nil", name)
	}
	if k.async {
		reg := builder.MethodByName("Register" + name + "Callback")
		if !reg.IsValid() {
			return fmt.Errorf("TelemetryBuilder has no Register%sCallback", name)
		}
		var cb any = metric.Int64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(v)
			return nil
		})
		if k.valueType == "double" {
			cb = metric.Float64Callback(func(_ context.Context, o metric.Float64Observer) error {
				o.Observe(float64(v))
				return nil
			})
		}
		if reg.Type().NumIn() != 1 || !reflect.TypeOf(cb).AssignableTo(reg.Type().In(0)) {
			return fmt.Errorf("Register%sCallback takes %v, not a %T", name, reg.Type(), cb)
		}
		if out := reg.Call([]reflect.Value{reflect.ValueOf(cb)}); len(out) == 1 && !out[0].IsNil() {
			return fmt.Errorf("Register%sCallback: %v", name, out[0].Interface())
		}
		return nil
	}
	// The field's static type decides: an SDK instrument value may satisfy
	// several of these interfaces at once.
	switch k {
	case kinds[reflect.TypeFor[metric.Int64Counter]()]:
		inst.(metric.Int64Counter).Add(ctx, v)
	case kinds[reflect.TypeFor[metric.Int64UpDownCounter]()]:
		inst.(metric.Int64UpDownCounter).Add(ctx, v)
	case kinds[reflect.TypeFor[metric.Int64Gauge]()]:
		inst.(metric.Int64Gauge).Record(ctx, v)
	case kinds[reflect.TypeFor[metric.Int64Histogram]()]:
		inst.(metric.Int64Histogram).Record(ctx, v)
	case kinds[reflect.TypeFor[metric.Float64Counter]()]:
		inst.(metric.Float64Counter).Add(ctx, float64(v))
	case kinds[reflect.TypeFor[metric.Float64UpDownCounter]()]:
		inst.(metric.Float64UpDownCounter).Add(ctx, float64(v))
	case kinds[reflect.TypeFor[metric.Float64Gauge]()]:
		inst.(metric.Float64Gauge).Record(ctx, float64(v))
	case kinds[reflect.TypeFor[metric.Float64Histogram]()]:
		inst.(metric.Float64Histogram).Record(ctx, float64(v))
	default:
		return fmt.Errorf("cannot record on a %v", k)
	}
	return nil
}

// compare checks the metric read back for key against metadata.yaml: name,
// unit, description with mdatagen's stability suffix, data kind, and the one
// value recorded.
func compare(key string, m Metric, k kind, v int64, got metricdata.Metrics) []string {
	var p []string
	if got.Name != MetricName(key) {
		p = append(p, fmt.Sprintf("metric %s: name %q, want %q", key, got.Name, MetricName(key)))
	}
	if got.Unit != m.Unit {
		p = append(p, fmt.Sprintf("metric %s: unit %q in code, %q in metadata.yaml", key, got.Unit, m.Unit))
	}
	if want := m.Description + stabilityLevels[m.Stability].suffix; got.Description != want {
		p = append(p, fmt.Sprintf("metric %s: description in code\n\t%q\nmetadata.yaml (+ stability suffix)\n\t%q", key, got.Description, want))
	}
	bad := func(format string, args ...any) {
		p = append(p, fmt.Sprintf("metric %s: ", key)+fmt.Sprintf(format, args...))
	}
	switch d := got.Data.(type) {
	case metricdata.Sum[int64]:
		checkSum(bad, k, "int", d.IsMonotonic, d.Temporality, len(d.DataPoints), func() bool { return d.DataPoints[0].Value == v })
	case metricdata.Sum[float64]:
		checkSum(bad, k, "double", d.IsMonotonic, d.Temporality, len(d.DataPoints), func() bool { return d.DataPoints[0].Value == float64(v) })
	case metricdata.Gauge[int64]:
		checkPoints(bad, k, "gauge", "int", len(d.DataPoints), func() bool { return d.DataPoints[0].Value == v })
	case metricdata.Gauge[float64]:
		checkPoints(bad, k, "gauge", "double", len(d.DataPoints), func() bool { return d.DataPoints[0].Value == float64(v) })
	case metricdata.Histogram[int64]:
		checkPoints(bad, k, "histogram", "int", len(d.DataPoints), func() bool { return d.DataPoints[0].Count == 1 && d.DataPoints[0].Sum == v })
	case metricdata.Histogram[float64]:
		checkPoints(bad, k, "histogram", "double", len(d.DataPoints), func() bool {
			return d.DataPoints[0].Count == 1 && d.DataPoints[0].Sum == float64(v)
		})
	default:
		bad("data %T is no sum, gauge or histogram", got.Data)
	}
	return p
}

func checkSum(bad func(string, ...any), k kind, valueType string, monotonic bool, temporality metricdata.Temporality, n int, valueOK func() bool) {
	checkPoints(bad, k, "sum", valueType, n, valueOK)
	if k.instrument == "sum" && monotonic != k.monotonic {
		bad("exported with monotonic=%t, metadata.yaml says %t", monotonic, k.monotonic)
	}
	if temporality != metricdata.CumulativeTemporality {
		bad("temporality %v, want cumulative", temporality)
	}
}

func checkPoints(bad func(string, ...any), k kind, instrument, valueType string, n int, valueOK func() bool) {
	if k.instrument != instrument || k.valueType != valueType {
		bad("exported as %s %s, metadata.yaml says %s %s", valueType, instrument, k.valueType, k.instrument)
		return
	}
	if n != 1 {
		bad("%d data points, want the 1 recorded", n)
		return
	}
	if !valueOK() {
		bad("carries another value than the one recorded on its TelemetryBuilder field (instruments swapped?)")
	}
}

// documentationProblems checks documentation.md the way mdatagen writes it:
// a "# <type>" title and, per metric, a "### otelcol_<key>" section with the
// plain description, the unit/type table row and one row per attribute; no
// section for a metric metadata.yaml lacks.
func documentationProblems(dir string, md Metadata) []string {
	b, err := os.ReadFile(filepath.Join(dir, "documentation.md"))
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if !slices.Contains(lines, "# "+md.Type) {
		p = append(p, fmt.Sprintf("documentation.md has no title line %q", "# "+md.Type))
	}
	sections := map[string][]string{}
	var current string
	for _, l := range lines {
		if name, ok := strings.CutPrefix(l, "### "); ok {
			current = strings.TrimSpace(name)
			if _, dup := sections[current]; dup {
				p = append(p, fmt.Sprintf("documentation.md has two sections %q", current))
			}
			sections[current] = nil
			continue
		}
		if strings.HasPrefix(l, "# ") || strings.HasPrefix(l, "## ") {
			current = ""
		}
		if current != "" && strings.TrimSpace(l) != "" {
			sections[current] = append(sections[current], l)
		}
	}
	for _, key := range sortedKeys(md.Telemetry.Metrics) {
		m := md.Telemetry.Metrics[key]
		name := MetricName(key)
		body, ok := sections[name]
		if !ok {
			p = append(p, fmt.Sprintf("documentation.md has no section %q", "### "+name))
			continue
		}
		delete(sections, name)
		if len(body) == 0 || body[0] != m.Description {
			first := ""
			if len(body) > 0 {
				first = body[0]
			}
			p = append(p, fmt.Sprintf("documentation.md %s: description\n\t%q\nmetadata.yaml\n\t%q", name, first, m.Description))
		}
		if row, ok := metricRow(m); ok && !slices.Contains(body, row) {
			p = append(p, fmt.Sprintf("documentation.md %s: no table row %q", name, row))
		}
		for _, a := range m.Attributes {
			attr, ok := md.Attributes[a]
			if !ok {
				continue // reported by metadataProblems
			}
			if row := attributeRow(a, attr); !slices.Contains(body, row) {
				p = append(p, fmt.Sprintf("documentation.md %s: no attribute row %q", name, row))
			}
		}
		for _, l := range attributeNames(body) {
			if !slices.Contains(m.Attributes, l) {
				p = append(p, fmt.Sprintf("documentation.md %s: attribute %q that metadata.yaml does not give this metric", name, l))
			}
		}
	}
	for _, extra := range sortedKeys(sections) {
		p = append(p, fmt.Sprintf("documentation.md has a section %q for a metric metadata.yaml lacks", "### "+extra))
	}
	return p
}

// metricRow is the table row mdatagen writes under a metric's description.
func metricRow(m Metric) (string, bool) {
	k, err := yamlKind(m)
	if err != nil {
		return "", false
	}
	valueType := map[string]string{"int": "Int", "double": "Double"}[k.valueType]
	word := stabilityLevels[m.Stability].word
	switch k.instrument {
	case "sum":
		return fmt.Sprintf("| %s | Sum | %s | %t | %s |", m.Unit, valueType, k.monotonic, word), true
	case "gauge":
		return fmt.Sprintf("| %s | Gauge | %s | %s |", m.Unit, valueType, word), true
	default:
		return fmt.Sprintf("| %s | Histogram | %s | %s |", m.Unit, valueType, word), true
	}
}

// attributeRow is the row mdatagen writes for an attribute of a metric.
func attributeRow(name string, a Attribute) string {
	typ := map[string]string{"string": "Str", "int": "Int", "double": "Double", "bool": "Bool"}[a.Type]
	if typ == "" {
		typ = a.Type
	}
	values := "Any " + typ
	if len(a.Enum) > 0 {
		quoted := make([]string, len(a.Enum))
		for i, e := range a.Enum {
			quoted[i] = "``" + e + "``"
		}
		values = typ + ": " + strings.Join(quoted, ", ")
	}
	return fmt.Sprintf("| %s | %s | %s |", name, a.Description, values)
}

// attributeNames returns the first cell of every row of the "#### Attributes" table in body.
func attributeNames(body []string) []string {
	var names []string
	in := false
	for _, l := range body {
		switch {
		case strings.HasPrefix(l, "#### "):
			in = strings.TrimSpace(strings.TrimPrefix(l, "#### ")) == "Attributes"
		case in && strings.HasPrefix(l, "|"):
			cells := strings.Split(l, "|")
			if len(cells) < 2 {
				continue
			}
			cell := strings.TrimSpace(cells[1])
			if cell == "Name" || strings.Trim(cell, "-") == "" {
				continue
			}
			names = append(names, cell)
		}
	}
	return names
}

// importPath returns the Go import path of dir from the nearest go.mod.
func importPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for root := abs; ; {
		if mod, err := modulePath(filepath.Join(root, "go.mod")); err == nil {
			rel, err := filepath.Rel(root, abs)
			if err != nil {
				return "", err
			}
			if rel == "." {
				return mod, nil
			}
			return mod + "/" + filepath.ToSlash(rel), nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(root)
		if parent == root {
			return "", fmt.Errorf("no go.mod above %s", abs)
		}
		root = parent
	}
}

func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(mod), `"`), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s has no module line", gomod)
}

func sortedKeys[V any](maps ...map[string]V) []string {
	var keys []string
	for _, m := range maps {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}
