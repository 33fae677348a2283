package bench

import (
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Row is one line of the summary table: a metric per config (NaN when the
// config was not run) and the ratios B/A and C/B.
type Row struct {
	Metric string
	Values map[Kind]float64
	Format string // fmt verb for the values
}

func (r Row) ratio(num, den Kind) float64 {
	n, okN := r.Values[num]
	d, okD := r.Values[den]
	if !okN || !okD || d == 0 || math.IsNaN(n) || math.IsNaN(d) {
		return math.NaN()
	}
	return n / d
}

// selectCells returns the non-skipped results of a kind with a label.
func selectCells(results []CellResult, k Kind, label string) []CellResult {
	var out []CellResult
	for _, r := range results {
		if r.Kind == k && r.Label == label && r.Skipped == "" {
			out = append(out, r)
		}
	}
	return out
}

// Median of f over cells (NaN when there are none).
func Median(cells []CellResult, f func(CellResult) float64) float64 {
	if len(cells) == 0 {
		return math.NaN()
	}
	vals := make([]float64, 0, len(cells))
	for _, c := range cells {
		vals = append(vals, f(c))
	}
	sort.Float64s(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}

// Summarize builds the table rows for the given labels, in order.
func Summarize(results []CellResult, rateLabels []string, maxLabel string, scaleLabels []string) []Row {
	var rows []Row
	metric := func(name, label, format string, f func(CellResult) float64) {
		row := Row{Metric: name, Values: map[Kind]float64{}, Format: format}
		any := false
		for _, k := range Kinds {
			if cells := selectCells(results, k, label); len(cells) > 0 {
				row.Values[k] = Median(cells, f)
				any = true
			}
		}
		if any {
			rows = append(rows, row)
		}
	}
	cpuPct := func(c CellResult) float64 { return 100 * c.CollectorCores }
	rssMiB := func(c CellResult) float64 { return float64(c.PeakRSS) / (1 << 20) }
	for _, l := range rateLabels {
		metric(l+" spans/s: collector CPU % of one core", l, "%.1f", cpuPct)
		metric(l+" spans/s: peak RSS MiB", l, "%.0f", rssMiB)
	}
	metric("max: spans/s accepted", maxLabel, "%.0f", func(c CellResult) float64 { return c.Throughput })
	metric("max: CPU-s per million spans (= us/span)", maxLabel, "%.2f", func(c CellResult) float64 { return c.CPUPerMillion })
	metric("max: collector CPU % of one core", maxLabel, "%.0f", cpuPct)
	metric("max: peak RSS MiB", maxLabel, "%.0f", rssMiB)
	metric("max: generator CPU % of one core", maxLabel, "%.0f", func(c CellResult) float64 { return 100 * c.GeneratorCores })
	metric("max: sink CPU % of one core", maxLabel, "%.0f", func(c CellResult) float64 { return 100 * c.SinkCores })
	for _, l := range scaleLabels {
		metric(l+": spans/s", l, "%.0f", func(c CellResult) float64 { return c.Throughput })
		metric(l+": CPU-s per million spans", l, "%.2f", func(c CellResult) float64 { return c.CPUPerMillion })
	}
	return rows
}

func fmtVal(format string, v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// WriteTable prints the rows as an aligned text table.
func WriteTable(w io.Writer, rows []Row) {
	width := len("metric")
	for _, r := range rows {
		width = max(width, len(r.Metric))
	}
	fmt.Fprintf(w, "%-*s %12s %12s %12s %7s %7s\n", width, "metric", "A", "B", "C", "B/A", "C/B")
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s", width, r.Metric)
		for _, k := range Kinds {
			v, ok := r.Values[k]
			if !ok {
				v = math.NaN()
			}
			fmt.Fprintf(w, " %12s", fmtVal(r.Format, v))
		}
		fmt.Fprintf(w, " %7s %7s\n", fmtVal("%.2f", r.ratio(Product, Passthrough)), fmtVal("%.2f", r.ratio(OTTL, Product)))
	}
}

// WriteSummaryCSV writes the table as CSV.
func WriteSummaryCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"metric", "A", "B", "C", "B/A", "C/B"})
	for _, r := range rows {
		rec := []string{r.Metric}
		for _, k := range Kinds {
			v, ok := r.Values[k]
			if !ok {
				v = math.NaN()
			}
			rec = append(rec, csvNum(v))
		}
		rec = append(rec, csvNum(r.ratio(Product, Passthrough)), csvNum(r.ratio(OTTL, Product)))
		_ = cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

func csvNum(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// WriteCellsCSV writes every cell (raw, all rounds) as CSV.
func WriteCellsCSV(w io.Writer, results []CellResult) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"round", "config", "mode", "label", "gomaxprocs", "send_batch_size", "send_batch_max_size",
		"offered_spans_per_s", "accepted_spans_per_s", "collector_cores", "cpu_s_per_million_spans", "peak_rss_mib",
		"generator_cores", "sink_cores", "acked_spans", "refused_spans", "sink_spans", "pre_spike_spans_per_s", "recovery_spans_per_s",
		"skipped", "failed_checks"})
	for _, r := range results {
		var sinkSpans int64
		for _, n := range r.SinkDelta {
			sinkSpans += n
		}
		var failed []string
		for _, c := range r.Checks {
			if c.Hard && !c.OK {
				failed = append(failed, c.Name)
			}
		}
		_ = cw.Write([]string{
			strconv.Itoa(r.Round), string(r.Kind), string(r.Mode), r.Label, strconv.Itoa(r.Params.GoMaxProcs),
			strconv.Itoa(r.Params.BatchSize), strconv.Itoa(r.Params.BatchMax), csvNum(r.Rate), csvNum(r.Throughput),
			csvNum(r.CollectorCores), csvNum(r.CPUPerMillion), csvNum(float64(r.PeakRSS) / (1 << 20)),
			csvNum(r.GeneratorCores), csvNum(r.SinkCores), strconv.FormatInt(r.Gen.AckedSpans, 10),
			strconv.FormatInt(r.Gen.RefusedSpans, 10), strconv.FormatInt(sinkSpans, 10), csvNum(r.PreSpikeThroughput), csvNum(r.RecoveryThroughput),
			r.Skipped, strings.Join(failed, "; "),
		})
	}
	cw.Flush()
	return cw.Error()
}

// WriteSamplesCSV writes an overload cell's per-second samples.
func WriteSamplesCSV(w io.Writer, r CellResult) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"t_s", "accepted_spans_per_s", "refused_spans_per_s", "rss_mib", "collector_cores"})
	for _, s := range r.Samples {
		_ = cw.Write([]string{csvNum(s.At.Seconds()), csvNum(s.AcceptedRate), csvNum(s.RefusedRate),
			csvNum(float64(s.RSS) / (1 << 20)), csvNum(s.CollectorCPUs)})
	}
	cw.Flush()
	return cw.Error()
}

// Panel is one bar group of the chart: a metric per config for a label.
type Panel struct {
	Title string
	Unit  string
	Bars  []Bar
}

// Bar is one config's value in a panel (NaN: not run).
type Bar struct {
	Group string // e.g. "max", "p1 b512"
	Kind  Kind
	Value float64
}

var kindColor = map[Kind]string{Passthrough: "#8c8c8c", Product: "#2f7ed8", OTTL: "#e4572e"}

// WriteSVG draws the panels side by side as grouped bar charts.
func WriteSVG(w io.Writer, title string, panels []Panel) error {
	const pw, ph, top, bottom, left = 460, 300, 50, 60, 60
	width := pw*len(panels) + 20
	height := ph + top + bottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	for i, k := range Kinds {
		fmt.Fprintf(&b, `<rect x="%d" y="30" width="12" height="12" fill="%s"/><text x="%d" y="40">%s</text>`+"\n",
			10+i*220, kindColor[k], 26+i*220, html.EscapeString(string(k)+": "+short(k)))
	}
	for pi, p := range panels {
		x0 := 20 + pi*pw + left
		plotW, plotH := pw-left-30, ph-40
		y0 := top + 30
		maxV := 0.0
		var groups []string
		seen := map[string]bool{}
		for _, bar := range p.Bars {
			if !math.IsNaN(bar.Value) {
				maxV = math.Max(maxV, bar.Value)
			}
			if !seen[bar.Group] {
				seen[bar.Group] = true
				groups = append(groups, bar.Group)
			}
		}
		if maxV == 0 {
			maxV = 1
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0, y0-10, html.EscapeString(p.Title+" ("+p.Unit+")"))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, y0+plotH, x0+plotW, y0+plotH)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, y0, x0, y0+plotH)
		for t := 0; t <= 4; t++ {
			v := maxV * float64(t) / 4
			y := y0 + plotH - int(float64(plotH)*float64(t)/4)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>`+"\n",
				x0-4, y+4, axisNum(v), x0, y, x0+plotW, y)
		}
		gw := float64(plotW) / float64(max(1, len(groups)))
		bw := gw / float64(len(Kinds)+1)
		for gi, g := range groups {
			gx := float64(x0) + gw*float64(gi)
			fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%s</text>`+"\n", gx+gw/2, y0+plotH+16, html.EscapeString(g))
			for ki, k := range Kinds {
				for _, bar := range p.Bars {
					if bar.Group != g || bar.Kind != k || math.IsNaN(bar.Value) {
						continue
					}
					h := float64(plotH) * bar.Value / maxV
					x := gx + bw*(float64(ki)+0.5)
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
						x, float64(y0+plotH)-h, bw*0.9, h, kindColor[k], html.EscapeString(g), k, axisNum(bar.Value))
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x+bw*0.45, float64(y0+plotH)-h-3, axisNum(bar.Value))
				}
			}
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func short(k Kind) string {
	switch k {
	case Passthrough:
		return "passthrough"
	case Product:
		return "spannormalizer+tenantrouting"
	}
	return "transform/OTTL + static tenants"
}

func axisNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
