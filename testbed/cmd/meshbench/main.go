// Command meshbench is `make bench`: it runs the ocb-built collector as its
// own process between the lean load generator (testbed/loadgen, in this
// process) and the Tempo-like sink (in a child process), in three configs
// interleaved A B C A B C, at fixed rates, at max throughput, on a scale
// curve and under overload, checks that no span was lost silently, prints
// a table with the ratios B/A and C/B, and writes CSV and SVG files under
// results/ (testbed/results/ when run from testbed/, as make bench does). It exits non-zero when a correctness check failed.
// testbed/README.md says how to read the output.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/bench"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/loadgen"
)

type options struct {
	maxStreams      int
	gogc            int
	quick           bool
	rounds          int
	warmup, measure time.Duration
	scaleMeasure    time.Duration
	overload        time.Duration
	recovery        time.Duration
	rates           string
	workers         int
	overloadWorkers int
	overloadFactor  float64
	batch           int
	memLimit, spike int
	overloadLimits  string
	rssMargin       int
	compression     string
	protocol        string
	configs         string
	scale           bool
	doOverload      bool
	out             string
	spansPerRequest int
	senderSpans     int
	serveSink       bool
	profile         bool
	breakdown       bool
	batching        bool
	diskQueue       bool
}

func parseFlags() options {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "quick mode: 1 round, short windows, 15s overload (about 2 minutes)")
	flag.IntVar(&o.rounds, "rounds", 0, "interleaved rounds A B C (default 2, quick 1)")
	flag.DurationVar(&o.warmup, "warmup", 0, "warm-up before each measured window (default 2s, quick 1s)")
	flag.DurationVar(&o.measure, "measure", 0, "measured window per cell (default 8s, quick 3s)")
	flag.DurationVar(&o.scaleMeasure, "scale-measure", 0, "measured window per scale-curve cell (default 6s, quick 3s)")
	flag.DurationVar(&o.overload, "overload", 0, "overload spike duration (default 60s, quick 15s)")
	flag.DurationVar(&o.recovery, "recovery", 0, "max-speed window after the spike (default 8s, quick 4s)")
	flag.StringVar(&o.rates, "rates", "10000,50000", "fixed offered rates in spans/s, comma separated")
	flag.IntVar(&o.workers, "workers", 8, "generator workers (concurrent export calls) for rate and max cells")
	flag.IntVar(&o.overloadWorkers, "overload-workers", 128, "generator workers during the overload spike")
	flag.Float64Var(&o.overloadFactor, "overload-factor", 2, "spike rate as a multiple of the measured max throughput")
	flag.IntVar(&o.batch, "batch", 8192, "batch processor send_batch_size for the main cells (configs with a batch processor: C and the two-stage AP, BP)")
	flag.IntVar(&o.memLimit, "mem-limit-mib", 1024, "memory_limiter limit_mib outside the overload cell")
	flag.IntVar(&o.spike, "spike-mib", 256, "memory_limiter spike_limit_mib outside the overload cell")
	flag.StringVar(&o.overloadLimits, "overload-limits", "870:154,160:40",
		"one overload cell per limit_mib:spike_limit_mib of memory_limiter, comma separated; the default is deploy/base's 1Gi container (85% and 15% of it), then a tight 160 MiB that the spike fills")
	flag.IntVar(&o.rssMargin, "rss-margin-mib", 64, "allowed RSS above limit_mib in the overload cell (Go runtime, stacks, binary pages)")
	flag.IntVar(&o.gogc, "gogc", 0, "GOGC of the collector processes (0: unset, Go's default 100)")
	flag.IntVar(&o.maxStreams, "max-streams", bench.ShippedMaxConcurrentStreams, "gRPC receiver max_concurrent_streams per connection (0: unbounded, grpc-go's default)")
	flag.StringVar(&o.compression, "compression", "zstd", "exporter compression to the sink: zstd (deploy/ ships it), gzip (otlp_grpc's default) or none")
	flag.StringVar(&o.protocol, "protocol", "grpc", "generator to collector: grpc, http or mixed")
	flag.StringVar(&o.configs, "configs", "A,B,C", "configs to run")
	flag.BoolVar(&o.scale, "scale", true, "run the scale curve (GOMAXPROCS 1/2 x batch 512/8192)")
	flag.BoolVar(&o.doOverload, "overload-run", true, "run the overload cells (-overload-limits)")
	flag.StringVar(&o.out, "out", "results", "output directory for CSV and SVG (testbed/results from testbed/, where make bench runs it)")
	flag.IntVar(&o.spansPerRequest, "spans-per-request", 96, "spans per OTLP request (whole traces of 8)")
	flag.IntVar(&o.senderSpans, "sender-spans", 0, "split every request per sender (resource), at most this many spans each, as proxies export straight to the collector (0: the mixed requests an agent forwards)")
	flag.BoolVar(&o.breakdown, "breakdown", true, "also run B's halves (B1 spannormalizer only, B2 tenantrouting only) at max throughput")
	flag.BoolVar(&o.batching, "batching", true, "also run A and B with two batching stages, the batch processor in front of the exporter's byte batching (AP, BP; shipped until 2026-12-01), at max throughput")
	flag.BoolVar(&o.diskQueue, "disk-queue", false, "put the exporter's queue on disk (file_storage, as deploy/overlays/prod) in every config that batches in the exporter (A, B, AP, BP)")
	flag.BoolVar(&o.profile, "profile", false, "save a collector CPU profile of every max-throughput cell under -out")
	flag.BoolVar(&o.serveSink, "serve-sink", false, "internal: run as the sink process")
	flag.Parse()
	def := func(d *time.Duration, full, quick time.Duration) {
		if *d == 0 {
			*d = full
			if o.quick {
				*d = quick
			}
		}
	}
	def(&o.warmup, 2*time.Second, time.Second)
	def(&o.measure, 8*time.Second, 3*time.Second)
	def(&o.scaleMeasure, 6*time.Second, 3*time.Second)
	def(&o.overload, 60*time.Second, 15*time.Second)
	def(&o.recovery, 8*time.Second, 4*time.Second)
	if o.rounds == 0 {
		o.rounds = 2
		if o.quick {
			o.rounds = 1
		}
	}
	return o
}

func main() {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.serveSink {
		if err := bench.ServeSink(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "sink:", err)
			os.Exit(1)
		}
		return
	}
	code, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshbench:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(ctx context.Context, o options) (int, error) {
	started := time.Now().UTC()
	// Flags are checked before the first cell, not after minutes of them.
	limits, err := parseOverloadLimits(o.overloadLimits)
	if err != nil {
		return 0, err
	}
	bin, err := harness.FindBinary()
	if err != nil {
		return 0, err
	}
	have, err := bench.Components(bin)
	if err != nil {
		return 0, err
	}
	kinds, err := parseKinds(o.configs)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return 0, err
	}
	workDir, err := os.MkdirTemp("", "meshbench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(workDir)

	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	sink, err := bench.StartProcessSink(exe, "-serve-sink")
	if err != nil {
		return 0, err
	}
	defer sink.Close()

	runner := &bench.Runner{
		Sink:         sink,
		Mix:          loadgen.MixOptions{SpansPerRequest: o.spansPerRequest},
		SenderSpans:  o.senderSpans,
		Protocol:     bench.Protocol(o.protocol),
		WorkDir:      workDir,
		Have:         have,
		RSSMarginMiB: o.rssMargin,
		Log:          os.Stdout,
	}
	if o.profile {
		runner.ProfileDir = o.out
	}
	perSpan, err := runner.MaxSpanBytes()
	if err != nil {
		return 0, err
	}
	// Tempo's distributor takes gRPC messages up to 4 MiB; keep exports at
	// most 3.5 MiB (ByteCappedBatchMax adds 1.5x headroom per span).
	const budget = 7 << 19
	params := func(batch, procs int) bench.CollectorParams {
		// The batch processor needs send_batch_max_size >= send_batch_size,
		// so a capped batch is sent at the cap.
		capped := bench.ByteCappedBatchMax(batch, perSpan, budget)
		return bench.CollectorParams{
			BatchSize: capped, BatchMax: capped,
			MemLimitMiB: o.memLimit, SpikeMiB: o.spike, Compression: o.compression, GoMaxProcs: procs,
			MaxConcurrentStreams: o.maxStreams,
			// As shipped (deploy/): GOMEMLIMIT at 80% of the limiter's limit.
			GoMemLimitMiB: o.memLimit * 8 / 10,
			GoGC:          o.gogc,
			DiskQueue:     o.diskQueue,
		}
	}
	mainParams := params(o.batch, 0)

	fmt.Printf("meshbench %s  binary %s\n", started.Format(time.RFC3339), bin)
	fmt.Printf("machine: %d CPUs (%s), %s, load average %s; generator in this process (pid %d), sink pid %d\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), loadAvg(), os.Getpid(), sink.PID())
	for _, k := range kinds {
		status := "ok"
		if miss := bench.Missing(k, have); len(miss) > 0 {
			status = "SKIPPED: binary lacks " + strings.Join(miss, ", ")
		}
		fmt.Printf("config %s: %s [%s]\n", k, k.Describe(), status)
	}
	fmt.Printf("load: %d-span requests over %s, %d workers; exporter compression %s; batch %d requested, %d used (cap keeps exports < 3.5 MiB at %.0f B/span x 1.5)\n",
		o.spansPerRequest, o.protocol, o.workers, o.compression, o.batch, mainParams.BatchSize, perSpan)
	if o.senderSpans > 0 {
		fmt.Printf("per sender: every request split into one request per sender (resource), at most %d spans each\n", o.senderSpans)
	}
	if o.diskQueue {
		fmt.Println("exporter queue on disk (file_storage) in A, B, AP, BP")
	}
	statements, err := bench.OTTLStatements()
	if err != nil {
		return 0, fmt.Errorf("config C: %w", err)
	}
	fmt.Printf("config C has %d OTTL statements\n\n", statements)

	var results []bench.CellResult
	runCell := func(c bench.Cell) bench.CellResult {
		if ctx.Err() != nil {
			return bench.CellResult{Cell: c, Skipped: "interrupted"}
		}
		fmt.Printf("%-4s %-16s round %d ... ", c.Kind, c.Label, c.Round)
		r := runner.Run(ctx, c)
		results = append(results, r)
		switch {
		case r.Skipped != "":
			fmt.Printf("skipped (%s)\n", r.Skipped)
		default:
			fmt.Printf("%8.0f spans/s  collector %5.1f%% CPU  %6.2f CPU-s/M  peak RSS %4d MiB  generator %4.1f%%  sink %4.1f%%%s\n",
				r.Throughput, 100*r.CollectorCores, r.CPUPerMillion, r.PeakRSS>>20, 100*r.GeneratorCores, 100*r.SinkCores, failures(r))
		}
		return r
	}

	rates, err := parseRates(o.rates)
	if err != nil {
		return 0, err
	}
	var rateLabels []string
	for _, rate := range rates {
		rateLabels = append(rateLabels, rateLabel(rate))
	}
	const maxLabel = "max"
	for round := 1; round <= o.rounds; round++ {
		for i, rate := range rates {
			for _, k := range kinds {
				runCell(bench.Cell{Kind: k, Mode: bench.ModeRate, Label: rateLabels[i], Round: round, Rate: rate,
					Workers: o.workers, Warmup: o.warmup, Measure: o.measure, Params: mainParams})
			}
		}
		maxKinds := kinds
		if o.breakdown && len(bench.Missing(bench.Product, have)) == 0 && slices.Contains(kinds, bench.Product) {
			maxKinds = append(slices.Clone(kinds), bench.NormalizeOnly, bench.RouteOnly)
		}
		if o.batching {
			if slices.Contains(kinds, bench.Passthrough) {
				maxKinds = append(slices.Clone(maxKinds), bench.PassthroughTwoStage)
			}
			if len(bench.Missing(bench.Product, have)) == 0 && slices.Contains(kinds, bench.Product) {
				maxKinds = append(slices.Clone(maxKinds), bench.ProductTwoStage)
			}
		}
		for _, k := range maxKinds {
			runCell(bench.Cell{Kind: k, Mode: bench.ModeMax, Label: maxLabel, Round: round,
				Workers: o.workers, Warmup: o.warmup, Measure: o.measure, Params: mainParams})
		}
	}

	var scaleLabels []string
	if o.scale {
		for _, procs := range []int{1, 2} {
			for _, batch := range []int{512, 8192} {
				p := params(batch, procs)
				if procs == runtime.NumCPU() && p.BatchSize == mainParams.BatchSize {
					continue // the main max cells are this point
				}
				label := fmt.Sprintf("max GOMAXPROCS=%d batch %d", procs, p.BatchSize)
				scaleLabels = append(scaleLabels, label)
				for _, k := range kinds {
					runCell(bench.Cell{Kind: k, Mode: bench.ModeMax, Label: label, Round: 1,
						Workers: o.workers, Warmup: o.warmup, Measure: o.scaleMeasure, Params: p})
				}
			}
		}
	}

	var overloads []bench.CellResult
	if o.doOverload && ctx.Err() == nil {
		ok := bench.Passthrough
		for _, k := range kinds {
			if k == bench.Product && len(bench.Missing(k, have)) == 0 {
				ok = bench.Product
			}
		}
		baseline := bench.Median(selectKind(results, ok, maxLabel), func(c bench.CellResult) float64 { return c.Throughput })
		if math.IsNaN(baseline) || baseline <= 0 {
			limits = nil // no max to offer twice of
		}
		for _, l := range limits {
			if ctx.Err() != nil {
				break
			}
			p := mainParams
			p.MemLimitMiB, p.SpikeMiB = l.limit, l.spike
			p.GoMemLimitMiB = l.limit * 8 / 10
			overloads = append(overloads, runCell(bench.Cell{Kind: ok, Mode: bench.ModeOverload, Label: l.label(), Round: 1,
				Rate: o.overloadFactor * baseline, Workers: o.overloadWorkers, Measure: o.overload,
				Recovery: o.recovery, Baseline: baseline, RecoveryWorkers: o.workers, Params: p}))
		}
	}

	// Report.
	fmt.Println()
	fmt.Printf("=== results (%s, median of %d interleaved round(s)) ===\n", started.Format("2006-01-02 15:04 MST"), o.rounds)
	rows := bench.Summarize(results, rateLabels, maxLabel, scaleLabels)
	bench.WriteTable(os.Stdout, rows)
	if len(scaleLabels) > 0 {
		fmt.Printf("(the max rows are the scale point GOMAXPROCS=%d batch %d)\n", runtime.NumCPU(), mainParams.BatchSize)
	}
	fmt.Println()
	printTargets(os.Stdout, results, maxLabel)
	for _, r := range overloads {
		printOverload(os.Stdout, r, o)
	}

	failed := 0
	fmt.Println("\nchecks:")
	for _, r := range results {
		if r.Skipped != "" {
			continue
		}
		for _, c := range r.Checks {
			if c.OK {
				continue
			}
			tag := "TARGET MISSED"
			if c.Hard {
				tag = "FAIL"
				failed++
			}
			fmt.Printf("  %s %s %s round %d: %s: %s\n", tag, r.Kind, r.Label, r.Round, c.Name, c.Detail)
		}
		if r.Failed() && r.Log != "" {
			fmt.Printf("    collector log tail:\n%s\n", indent(r.Log, "      "))
		}
	}
	if failed == 0 {
		fmt.Println("  all correctness checks passed (sent == received per tenant, refusals reported, no crash)")
	}

	files, err := writeFiles(o.out, mainParams.BatchSize, started, results, rows, rateLabels, maxLabel, scaleLabels, overloads)
	if err != nil {
		return 0, err
	}
	fmt.Printf("\nwrote %s\n", strings.Join(files, ", "))
	fmt.Printf("took %s; load average now %s\n", time.Since(started).Round(time.Second), loadAvg())
	if ctx.Err() != nil {
		return 130, nil
	}
	if failed > 0 {
		return 1, nil
	}
	return 0, nil
}

func selectKind(results []bench.CellResult, k bench.Kind, label string) []bench.CellResult {
	var out []bench.CellResult
	for _, r := range results {
		if r.Kind == k && r.Label == label && r.Skipped == "" {
			out = append(out, r)
		}
	}
	return out
}

// printTargets compares the measured CPU per span with the targets.
func printTargets(w io.Writer, results []bench.CellResult, maxLabel string) {
	cpu := func(k bench.Kind) float64 {
		return bench.Median(selectKind(results, k, maxLabel), func(c bench.CellResult) float64 { return c.CPUPerMillion })
	}
	a, b, c := cpu(bench.Passthrough), cpu(bench.Product), cpu(bench.OTTL)
	fmt.Fprintf(w, "CPU per span at max throughput: A %.2f us, B %.2f us, C %.2f us\n", a, b, c)
	if b1, b2 := cpu(bench.NormalizeOnly), cpu(bench.RouteOnly); !math.IsNaN(b1) && !math.IsNaN(b2) && !math.IsNaN(a) {
		fmt.Fprintf(w, "B's extra over A by half: B1 (+spannormalizer) %.2f us (+%.2f), B2 (+tenantrouting, batches per tenant, tenantheader; no edge copies) %.2f us (+%.2f)\n",
			b1, b1-a, b2, b2-a)
	}
	if ap, bp := cpu(bench.PassthroughTwoStage), cpu(bench.ProductTwoStage); !math.IsNaN(ap) || !math.IsNaN(bp) {
		fmt.Fprintf(w, "batching: A one stage (exporter) %.2f us, two stages (batch processor + exporter) %.2f us (x%.3f); B one stage %.2f us, two stages %.2f us (x%.3f); B/A two stages %.2f\n",
			a, ap, ap/a, b, bp, bp/b, bp/ap)
	}
	if !math.IsNaN(a) && !math.IsNaN(b) {
		verdict := "MISSED"
		switch {
		case b/a <= 1.10:
			verdict = "met, and the stretch"
		case b/a <= 1.25:
			verdict = "met"
		}
		fmt.Fprintf(w, "target B/A CPU per span <= 1.25 (stretch 1.10): %.2f (%s); B adds %.2f us/span over A\n", b/a, verdict, b-a)
	} else {
		fmt.Fprintln(w, "target B/A CPU per span <= 1.25 (stretch 1.10): n/a (config B not run)")
	}
	if !math.IsNaN(a) && !math.IsNaN(c) {
		fmt.Fprintf(w, "C adds %.2f us/span over A", c-a)
		if !math.IsNaN(b) {
			extraB := b - a
			verdict := "met"
			if extraB > 0 && (c-a)/extraB < 10 {
				verdict = "MISSED"
			}
			if extraB <= 0 {
				fmt.Fprintf(w, "; target (C-A) >= 10x (B-A): B adds nothing measurable (%s)", verdict)
			} else {
				fmt.Fprintf(w, "; target (C-A) >= 10x (B-A): %.1fx (%s)", (c-a)/extraB, verdict)
			}
		}
		fmt.Fprintln(w)
	}
}

func printOverload(w io.Writer, r bench.CellResult, o options) {
	if r.Skipped != "" {
		fmt.Fprintf(w, "overload: skipped (%s)\n", r.Skipped)
		return
	}
	var peakRefused float64
	for _, s := range r.Samples {
		peakRefused = math.Max(peakRefused, s.RefusedRate)
	}
	fmt.Fprintf(w, "overload (config %s): offered %.0f spans/s (%.1fx max %.0f) for %s with %d workers, memory_limiter limit_mib %d spike_limit_mib %d, GOMEMLIMIT %d MiB, max_concurrent_streams %d\n",
		r.Kind, r.Rate, o.overloadFactor, r.Baseline, o.overload, r.Workers, r.Params.MemLimitMiB, r.Params.SpikeMiB, r.Params.GoMemLimitMiB, r.Params.MaxConcurrentStreams)
	fmt.Fprintf(w, "  max just before the spike, same process: %.0f spans/s (%.0f%% of the max cell's)\n",
		r.PreSpikeThroughput, 100*r.PreSpikeThroughput/r.Baseline)
	fmt.Fprintf(w, "  accepted %.0f spans/s during the spike (%.0f%% of the max just before, %.0f%% of the max cell's); peak RSS %d MiB (limit %d + margin %d MiB)\n",
		r.Throughput, 100*r.Throughput/r.PreSpikeThroughput, 100*r.Throughput/r.Baseline, r.PeakRSS>>20, r.Params.MemLimitMiB, o.rssMargin)
	var sent float64
	for _, s := range r.Samples {
		sent += (s.AcceptedRate + s.RefusedRate) / float64(len(r.Samples))
	}
	fmt.Fprintf(w, "  sent %.0f spans/s (accepted+refused); %.0f spans/s more were due but not sent because all %d workers were waiting on the collector\n",
		sent, float64(r.Gen.Behind)/r.Measure.Seconds(), r.Workers)
	fmt.Fprintf(w, "  refused: generator saw %d spans %v, collector counted %d (memory_limiter %d)\n",
		r.Gen.RefusedSpans, r.Gen.RefusedBy, r.Metrics.ReceiverRefused, r.Metrics.MemoryLimiterRefuse)
	fmt.Fprintf(w, "  after the spike: %.0f spans/s (%.0f%% of max)\n", r.RecoveryThroughput, 100*r.RecoveryThroughput/r.Baseline)
}

func writeFiles(dir string, mainBatch int, started time.Time, results []bench.CellResult, rows []bench.Row, rateLabels []string, maxLabel string, scaleLabels []string, overloads []bench.CellResult) ([]string, error) {
	var files []string
	write := func(name string, f func(io.Writer) error) error {
		path := filepath.Join(dir, name)
		fh, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := f(fh); err != nil {
			fh.Close()
			return err
		}
		files = append(files, path)
		return fh.Close()
	}
	if err := write("bench-summary.csv", func(w io.Writer) error { return bench.WriteSummaryCSV(w, rows) }); err != nil {
		return nil, err
	}
	if err := write("bench-cells.csv", func(w io.Writer) error { return bench.WriteCellsCSV(w, results) }); err != nil {
		return nil, err
	}
	for _, r := range overloads {
		if len(r.Samples) == 0 {
			continue
		}
		name := fmt.Sprintf("bench-overload-%dmib.csv", r.Params.MemLimitMiB)
		if err := write(name, func(w io.Writer) error { return bench.WriteSamplesCSV(w, r) }); err != nil {
			return nil, err
		}
	}
	bars := func(labels []string, group func(string) string, f func(bench.CellResult) float64) []bench.Bar {
		var out []bench.Bar
		for _, l := range labels {
			for _, k := range bench.Kinds {
				out = append(out, bench.Bar{Group: group(l), Kind: k, Value: bench.Median(selectKind(results, k, l), f)})
			}
		}
		return out
	}
	scaleGroup := func(l string) string {
		l = strings.TrimPrefix(l, "max GOMAXPROCS=")
		return "P" + strings.Replace(l, " batch ", " b", 1)
	}
	mainGroup := func(string) string { return fmt.Sprintf("P2 b%d*", mainBatch) }
	tput := func(c bench.CellResult) float64 { return c.Throughput }
	cpuM := func(c bench.CellResult) float64 { return c.CPUPerMillion }
	cpuPct := func(c bench.CellResult) float64 { return 100 * c.CollectorCores }
	panels := []bench.Panel{
		{Title: "max throughput", Unit: "spans/s", Bars: append(bars([]string{maxLabel}, mainGroup, tput), bars(scaleLabels, scaleGroup, tput)...)},
		{Title: "collector CPU per span", Unit: "CPU-s per million spans", Bars: append(bars([]string{maxLabel}, mainGroup, cpuM), bars(scaleLabels, scaleGroup, cpuM)...)},
		{Title: "collector CPU at fixed rate", Unit: "% of one core", Bars: bars(rateLabels, func(l string) string { return l + "/s" }, cpuPct)},
	}
	title := fmt.Sprintf("otelcol-mesh bench %s (* = main max cells; P = GOMAXPROCS, b = send_batch_size)", started.Format("2006-01-02 15:04 MST"))
	if err := write("bench.svg", func(w io.Writer) error { return bench.WriteSVG(w, title, panels) }); err != nil {
		return nil, err
	}
	return files, nil
}

func failures(r bench.CellResult) string {
	var names []string
	for _, c := range r.Checks {
		if c.Hard && !c.OK {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "  FAIL: " + strings.Join(names, "; ")
}

func parseKinds(s string) ([]bench.Kind, error) {
	var out []bench.Kind
	for _, part := range strings.Split(s, ",") {
		k := bench.Kind(strings.ToUpper(strings.TrimSpace(part)))
		switch k {
		case bench.Passthrough, bench.Product, bench.OTTL:
			out = append(out, k)
		default:
			return nil, fmt.Errorf("-configs: unknown config %q (want A, B or C)", part)
		}
	}
	return out, nil
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("-rates: bad rate %q", part)
		}
		out = append(out, v)
	}
	return out, nil
}

// overloadLimit is the memory_limiter of one overload cell.
type overloadLimit struct{ limit, spike int }

func (l overloadLimit) label() string { return fmt.Sprintf("overload %dMiB", l.limit) }

func parseOverloadLimits(s string) ([]overloadLimit, error) {
	var out []overloadLimit
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		limit, spike, ok := strings.Cut(part, ":")
		l, err1 := strconv.Atoi(limit)
		sp, err2 := strconv.Atoi(spike)
		if !ok || err1 != nil || err2 != nil || sp <= 0 || sp >= l {
			return nil, fmt.Errorf("-overload-limits: %q is not limit_mib:spike_limit_mib with 0 < spike < limit", part)
		}
		out = append(out, overloadLimit{limit: l, spike: sp})
	}
	return out, nil
}

func rateLabel(rate float64) string {
	if rate >= 1000 && math.Mod(rate, 1000) == 0 {
		return fmt.Sprintf("%.0fk", rate/1000)
	}
	return fmt.Sprintf("%.0f", rate)
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// loadAvg is /proc/loadavg's 1/5/15-minute figures: other work on the
// machine during the run shows here.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
