package bench

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/harness"
	"github.com/otelcol-mesh/otelcol-mesh/testbed/loadgen"
)

// Protocol selects how the generator talks to the collector.
type Protocol string

const (
	ProtoGRPC  Protocol = "grpc"
	ProtoHTTP  Protocol = "http"
	ProtoMixed Protocol = "mixed" // alternate gRPC and HTTP per request
)

// workload is the replayable load of one config: templates whose Target is
// an index into the endpoints returned by targets.
type workload struct {
	templates []*loadgen.Template
	// maxSpanBytes is the largest body size per span among the templates.
	maxSpanBytes float64
}

// buildWorkload turns the mix into templates for config k. A and B get the
// mixed requests as they are (one endpoint); C gets each tenant's share on
// that tenant's endpoint, edge spans on two (see configC). With senderSpans
// > 0 every request is first split per sender (loadgen.SplitBySender), the
// shape of the shipped topology where proxies export straight to the
// collector, instead of an agent's mixed batches.
func buildWorkload(k Kind, mix loadgen.MixOptions, senderSpans int, proto Protocol) (*workload, error) {
	w := &workload{}
	pick := func(i int) int { // 0 = gRPC, 1 = HTTP
		switch proto {
		case ProtoHTTP:
			return 1
		case ProtoMixed:
			return i % 2
		}
		return 0
	}
	add := func(t *loadgen.Template) {
		w.templates = append(w.templates, t)
		if per := float64(len(t.Body)) / float64(t.Spans); per > w.maxSpanBytes {
			w.maxSpanBytes = per
		}
	}
	bySender := func(reqs []loadgen.Request) []loadgen.Request {
		if senderSpans <= 0 {
			return reqs
		}
		var out []loadgen.Request
		for _, req := range reqs {
			out = append(out, loadgen.SplitBySender(req, senderSpans)...)
		}
		return out
	}
	if k != OTTL {
		for i, req := range bySender(loadgen.BuildMix(mix)) {
			var expect map[string]int
			switch k {
			case Product, ProductTwoStage:
				expect = loadgen.ExpectedTenants(req)
			case RouteOnly:
				expect = map[string]int{}
				for _, r := range req.Routes {
					expect[loadgen.TenantOf(r.Namespace)]++
				}
			default:
				expect = map[string]int{StaticTenant: req.Traces.SpanCount()}
			}
			t, err := loadgen.NewTemplate(req.Traces, pick(i), req.Traces.SpanCount(), expect)
			if err != nil {
				return nil, err
			}
			add(t)
		}
		return w, nil
	}
	// C: bigger base requests so that each tenant's share is about the
	// size of an A/B request (per sender, a request is one tenant's already).
	big := mix
	if big.SpansPerRequest <= 0 {
		big.SpansPerRequest = 100
	}
	if senderSpans <= 0 {
		big.SpansPerRequest *= len(Tenants) - 1
	}
	i := 0
	for _, req := range bySender(loadgen.BuildMix(big)) {
		parts, logical := loadgen.SplitByTenant(req)
		for ti, tenant := range Tenants {
			td, ok := parts[tenant]
			if !ok {
				continue
			}
			t, err := loadgen.NewTemplate(td, 2*ti+pick(i), logical[tenant], map[string]int{tenant: td.SpanCount()})
			if err != nil {
				return nil, err
			}
			i++
			add(t)
		}
	}
	return w, nil
}

// targets lists the endpoints of a running collector in the order the
// templates of buildWorkload index them.
func targets(k Kind, ports harness.Ports, tenantPorts []tenantPort) []loadgen.Target {
	if k != OTTL {
		return []loadgen.Target{
			{Protocol: loadgen.GRPC, Addr: fmt.Sprintf("127.0.0.1:%d", ports.OTLPGRPC)},
			{Protocol: loadgen.HTTP, Addr: fmt.Sprintf("127.0.0.1:%d", ports.OTLPHTTP)},
		}
	}
	var out []loadgen.Target
	for _, tp := range tenantPorts {
		out = append(out,
			loadgen.Target{Protocol: loadgen.GRPC, Addr: fmt.Sprintf("127.0.0.1:%d", tp.GRPC)},
			loadgen.Target{Protocol: loadgen.HTTP, Addr: fmt.Sprintf("127.0.0.1:%d", tp.HTTP)})
	}
	return out
}

// Components lists what the binary has, as "<kind>/<type>" (for example
// "processor/batch"), from `otelcol-mesh components`.
func Components(bin string) (map[string]bool, error) {
	out, err := exec.Command(bin, "components").Output()
	if err != nil {
		return nil, fmt.Errorf("%s components: %w", bin, err)
	}
	have := map[string]bool{}
	section := ""
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && line[0] != ' ' && line[0] != '-' && strings.HasSuffix(line, ":") {
			section = strings.TrimSuffix(strings.TrimSuffix(line, ":"), "s")
			continue
		}
		t := strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(t, "- name: "); ok && section != "" {
			have[section+"/"+strings.TrimSpace(name)] = true
		}
	}
	return have, nil
}

// Missing lists what config k needs that the binary lacks.
func Missing(k Kind, have map[string]bool) []string {
	var out []string
	for _, c := range k.Requires() {
		if !have[c] {
			out = append(out, c)
		}
	}
	return out
}

// ByteCappedBatchMax returns the send_batch_max_size (in spans) that keeps
// one export under budget bytes when spans are up to perSpan bytes, with
// a 1.5x headroom for processors that add attributes. It never exceeds want.
func ByteCappedBatchMax(want int, perSpan float64, budget int) int {
	if perSpan <= 0 {
		return want
	}
	limit := int(float64(budget) / (perSpan * 1.5))
	return max(1, min(want, limit))
}
