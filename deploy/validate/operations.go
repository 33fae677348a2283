package validate

import (
	"fmt"
	"iter"
	"regexp"
	"strconv"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The checks below look at one rendered OpenTelemetryCollector and return
// what is wrong with it, one sentence per problem (nil: nothing). Tests run
// them on every rendered tree and, to show that they can fail, on copies
// that reproduce the defects they were written for.

const mib = 1 << 20

func specOf(cr Object) map[string]any {
	spec, _ := cr.Map["spec"].(map[string]any)
	return spec
}

func quantity(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok {
		if n, isNum := v.(fmt.Stringer); isNum {
			s = n.String()
		} else {
			return 0, false
		}
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, false
	}
	return q.Value(), true
}

func number(v any) (float64, bool) {
	f, err := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f, err == nil
}

func duration(v any) (time.Duration, bool) {
	d, err := time.ParseDuration(fmt.Sprint(v))
	return d, err == nil
}

// goMemLimit parses GOMEMLIMIT ("696MiB", "1GiB", "734003200").
func goMemLimit(s string) (int64, bool) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			n, err := strconv.ParseInt(strings.TrimSuffix(s, u.suffix), 10, 64)
			return n * u.mult, err == nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func envValue(cr Object, name string) (string, bool) {
	env, _ := specOf(cr)["env"].([]any)
	for _, e := range env {
		em, _ := e.(map[string]any)
		if em["name"] == name {
			v, ok := em["value"].(string)
			return v, ok
		}
	}
	return "", false
}

// MemoryPlan is the memory arithmetic of one collector, in bytes.
type MemoryPlan struct {
	Limit, Request   int64 // container limits.memory / requests.memory
	Hard, Soft       int64 // memory_limiter: hard limit, hard - spike
	GoMemLimit       int64 // GOMEMLIMIT
	HPAThreshold     int64 // targetMemoryUtilization % of the request; 0 without
	HPATargetPercent float64
}

func (p MemoryPlan) String() string {
	return fmt.Sprintf("limit %d MiB, memory_limiter hard %.1f MiB soft %.1f MiB, GOMEMLIMIT %.1f MiB, HPA memory target %.0f %% of request %d MiB = %.1f MiB",
		p.Limit/mib, float64(p.Hard)/mib, float64(p.Soft)/mib, float64(p.GoMemLimit)/mib, p.HPATargetPercent, p.Request/mib, float64(p.HPAThreshold)/mib)
}

// CheckMemory computes the memory plan and checks that the three mechanisms
// fire in the right order as memory grows: the HPA adds replicas first, then
// the Go GC works harder (GOMEMLIMIT), then memory_limiter refuses (soft
// limit), then it forces GC (hard limit), all below the container's limit.
func CheckMemory(cr Object) (MemoryPlan, []string) {
	var p MemoryPlan
	var problems []string
	spec := specOf(cr)
	res, _ := spec["resources"].(map[string]any)
	lim, _ := GetPath(res, "limits", "memory")
	var ok bool
	if p.Limit, ok = quantity(lim); !ok {
		return p, []string{"resources.limits.memory is not set: memory_limiter's percentages have no base"}
	}
	req, _ := GetPath(res, "requests", "memory")
	if p.Request, ok = quantity(req); !ok {
		p.Request = p.Limit
	}
	cfg, _ := spec["config"].(map[string]any)
	ml, _ := GetPath(cfg, "processors", "memory_limiter")
	mlm, _ := ml.(map[string]any)
	if mlm == nil {
		return p, []string{"no memory_limiter processor"}
	}
	if v, ok := number(mlm["limit_mib"]); ok && v > 0 {
		p.Hard = int64(v) * mib
		if s, ok := number(mlm["spike_limit_mib"]); ok {
			p.Soft = p.Hard - int64(s)*mib
		} else {
			p.Soft = p.Hard - p.Hard/5
		}
	} else if v, ok := number(mlm["limit_percentage"]); ok && v > 0 {
		p.Hard = p.Limit * int64(v) / 100
		if s, ok := number(mlm["spike_limit_percentage"]); ok {
			p.Soft = p.Hard - p.Limit*int64(s)/100
		} else {
			p.Soft = p.Hard - p.Hard/5
		}
	} else {
		problems = append(problems, "memory_limiter has neither limit_mib nor limit_percentage")
	}
	if s, ok := envValue(cr, "GOMEMLIMIT"); !ok {
		problems = append(problems, "GOMEMLIMIT is not set: the Go heap grows to the memory_limiter limits before the GC works hard")
	} else if p.GoMemLimit, ok = goMemLimit(s); !ok {
		problems = append(problems, fmt.Sprintf("GOMEMLIMIT %q does not parse", s))
	}
	if pct, ok := number(GetPathOr(spec, nil, "autoscaler", "targetMemoryUtilization")); ok {
		p.HPATargetPercent = pct
		p.HPAThreshold = int64(float64(p.Request) * pct / 100)
	}
	if p.HPAThreshold > 0 && p.GoMemLimit > 0 && p.HPAThreshold >= p.GoMemLimit {
		problems = append(problems, fmt.Sprintf("the HPA memory target (%.1f MiB) is not below GOMEMLIMIT (%.1f MiB): the GC holds memory under the target and scale-out never fires",
			float64(p.HPAThreshold)/mib, float64(p.GoMemLimit)/mib))
	}
	if p.HPAThreshold > 0 && p.HPAThreshold >= p.Soft {
		problems = append(problems, fmt.Sprintf("the HPA memory target (%.1f MiB) is not below memory_limiter's soft limit (%.1f MiB): spans are refused before memory-based scale-out fires",
			float64(p.HPAThreshold)/mib, float64(p.Soft)/mib))
	}
	if p.GoMemLimit > 0 && p.GoMemLimit >= p.Soft {
		problems = append(problems, fmt.Sprintf("GOMEMLIMIT (%.1f MiB) is not below memory_limiter's soft limit (%.1f MiB)", float64(p.GoMemLimit)/mib, float64(p.Soft)/mib))
	}
	if p.Soft <= 0 || p.Soft >= p.Hard {
		problems = append(problems, fmt.Sprintf("memory_limiter's soft limit (%.1f MiB) must be positive and below its hard limit (%.1f MiB)", float64(p.Soft)/mib, float64(p.Hard)/mib))
	}
	if p.Hard >= p.Limit {
		problems = append(problems, fmt.Sprintf("memory_limiter's hard limit (%.1f MiB) is not below the container limit (%d MiB)", float64(p.Hard)/mib, p.Limit/mib))
	}
	return p, problems
}

// GetPathOr is GetPath with a default.
func GetPathOr(m map[string]any, def any, path ...string) any {
	if v, ok := GetPath(m, path...); ok {
		return v
	}
	return def
}

// CheckReplicas: with spec.autoscaler the HPA owns the replica count, and
// spec.replicas would reset it on every apply.
func CheckReplicas(cr Object) []string {
	spec := specOf(cr)
	_, auto := spec["autoscaler"]
	r, has := spec["replicas"]
	if auto && has {
		return []string{fmt.Sprintf("spec.replicas (%v) next to spec.autoscaler: every apply or sync resets the HPA's count", r)}
	}
	return nil
}

// QueueBudget is the disk budget of one persistent export queue.
type QueueBudget struct {
	Exporter, Storage, Directory, Volume string
	QueueBytes, VolumeBytes              int64
}

// CheckDiskQueue checks every exporter whose sending_queue has a storage
// extension: the queue is sized in bytes and holds at most half of the volume
// its directory is on (bbolt pages, the compaction copy and requests in
// flight need the rest), so a long outage fills the queue, not the disk.
func CheckDiskQueue(cr Object) ([]QueueBudget, []string) {
	spec := specOf(cr)
	cfg, _ := spec["config"].(map[string]any)
	var out []QueueBudget
	var problems []string
	for id, qm := range exporterQueues(cr) {
		storage, _ := qm["storage"].(string)
		if storage == "" {
			continue
		}
		b := QueueBudget{Exporter: id, Storage: storage}
		dir, _ := GetPath(cfg, "extensions", storage, "directory")
		b.Directory, _ = dir.(string)
		if qm["sizer"] != "bytes" {
			problems = append(problems, fmt.Sprintf("%s: sending_queue.sizer is %v, not bytes: %v requests of up to a few MiB each have no bound on disk", id, GetPathOr(qm, "requests (default)", "sizer"), qm["queue_size"]))
		} else if n, ok := number(qm["queue_size"]); ok {
			b.QueueBytes = int64(n)
		}
		vol, size, err := volumeFor(spec, b.Directory)
		b.Volume, b.VolumeBytes = vol, size
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: queue directory %q: %v", id, b.Directory, err))
		} else if b.QueueBytes > 0 && 2*b.QueueBytes > b.VolumeBytes {
			problems = append(problems, fmt.Sprintf("%s: queue_size %d MiB is more than half of volume %s (%d MiB)", id, b.QueueBytes/mib, vol, b.VolumeBytes/mib))
		}
		if cd, ok := GetPath(cfg, "extensions", storage, "compaction", "directory"); ok {
			if cv, _, err := volumeFor(spec, fmt.Sprint(cd)); err != nil || cv != vol {
				problems = append(problems, fmt.Sprintf("%s: compaction.directory %v is not on the queue's volume %s", storage, cd, vol))
			}
		}
		out = append(out, b)
	}
	return out, problems
}

// CheckOneBatchingStage: the exporter's sending_queue.batch is the only
// batching stage. A batch processor in a pipeline whose exporter also
// batches is a second stage that, with the queue in memory, costs more CPU
// per span than one (A x1.23, B x1.05, testbed/README.md "One batching
// stage") and acknowledges spans before the exporter's queue has taken them.
func CheckOneBatchingStage(cr Object) []string {
	cfg, _ := specOf(cr)["config"].(map[string]any)
	pipes, _ := GetPath(cfg, "service", "pipelines")
	var problems []string
	for name, p := range asMap(pipes) {
		pm := asMap(p)
		var batchProcs, batchingExporters []string
		for _, id := range asList(pm["processors"]) {
			if ComponentType(fmt.Sprint(id)) == "batch" {
				batchProcs = append(batchProcs, fmt.Sprint(id))
			}
		}
		for _, id := range asList(pm["exporters"]) {
			if b, ok := GetPath(cfg, "exporters", fmt.Sprint(id), "sending_queue", "batch"); ok && b != nil {
				batchingExporters = append(batchingExporters, fmt.Sprint(id))
			}
		}
		if len(batchProcs) > 0 && len(batchingExporters) > 0 {
			problems = append(problems, fmt.Sprintf("pipeline %s batches twice: processor %s and the sending_queue.batch of %s",
				name, strings.Join(batchProcs, ", "), strings.Join(batchingExporters, ", ")))
		}
	}
	return problems
}

// CheckQueueBlocks: every enabled sending_queue sets block_on_overflow, so a
// full queue makes the receiver wait (its sender waits on gRPC flow control,
// up to max_concurrent_streams requests per connection) instead of refusing.
// Refusing wastes the decode of every refused request, and a queue that
// refuses one tenant's share of a request after another share went in has
// tenantrouting drop that share, counted, while the sender is told the
// request succeeded (testbed/README.md "Overload": 13,272 spans so in a 20 s
// spike; 0 with blocking).
func CheckQueueBlocks(cr Object) []string {
	var problems []string
	for id, qm := range exporterQueues(cr) {
		if qm["enabled"] == false {
			continue
		}
		if qm["block_on_overflow"] != true {
			problems = append(problems, fmt.Sprintf("%s: sending_queue.block_on_overflow is %v, not true: a full queue refuses, and a tenant share it refuses is dropped while its request is acknowledged",
				id, GetPathOr(qm, "false (default)", "block_on_overflow")))
		}
	}
	return problems
}

// exporterQueues yields every exporter of cr's config that has a
// sending_queue, with the queue's settings.
func exporterQueues(cr Object) iter.Seq2[string, map[string]any] {
	cfg, _ := specOf(cr)["config"].(map[string]any)
	return func(yield func(string, map[string]any) bool) {
		for id, e := range asMap(cfg["exporters"]) {
			if qm := asMap(asMap(e)["sending_queue"]); qm != nil && !yield(id, qm) {
				return
			}
		}
	}
}

// HeapPerQueueByte is what a queued span takes on the heap per byte that
// the bytes sizer counts (its proto size): 2.98 measured for the testbed's
// span mix, rounded up.
const HeapPerQueueByte = 3

// MemoryQueue is the memory budget of one in-memory export queue.
type MemoryQueue struct {
	Exporter              string
	QueueBytes, HeapBytes int64 // queue_size, and its estimated heap
}

// CheckMemoryQueue checks every exporter whose sending_queue is in memory
// (no storage): with no batch processor in front every incoming request is
// a queue entry, so it is sized in bytes, and a full queue may take at most
// half of memory_limiter's soft limit on the heap (the pipeline needs the
// rest), so a Tempo outage fills the queue, which refuses to the senders,
// before memory_limiter refuses everything.
func CheckMemoryQueue(cr Object, plan MemoryPlan) ([]MemoryQueue, []string) {
	var out []MemoryQueue
	var problems []string
	for id, qm := range exporterQueues(cr) {
		if qm["enabled"] == false || qm["storage"] != nil {
			continue
		}
		if qm["sizer"] != "bytes" {
			problems = append(problems, fmt.Sprintf("%s: in-memory sending_queue.sizer is %v, not bytes: %v entries of any size have no memory bound", id, GetPathOr(qm, "requests (default)", "sizer"), GetPathOr(qm, "1000 (default)", "queue_size")))
			continue
		}
		n, _ := number(qm["queue_size"])
		q := MemoryQueue{Exporter: id, QueueBytes: int64(n), HeapBytes: int64(n) * HeapPerQueueByte}
		if plan.Soft > 0 && 2*q.HeapBytes > plan.Soft {
			problems = append(problems, fmt.Sprintf("%s: in-memory queue_size %d MiB takes ~%d MiB of heap when full, more than half of memory_limiter's soft limit (%.1f MiB)",
				id, q.QueueBytes/mib, q.HeapBytes/mib, float64(plan.Soft)/mib))
		}
		out = append(out, q)
	}
	return out, problems
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// volumeFor finds the volume mounted at (a parent of) dir and its size: an
// emptyDir's sizeLimit or a volumeClaimTemplate's storage request.
func volumeFor(spec map[string]any, dir string) (string, int64, error) {
	mounts, _ := spec["volumeMounts"].([]any)
	var name, best string
	for _, m := range mounts {
		mm, _ := m.(map[string]any)
		p, _ := mm["mountPath"].(string)
		if p != "" && (dir == p || strings.HasPrefix(dir, strings.TrimSuffix(p, "/")+"/")) && len(p) > len(best) {
			best, name = p, fmt.Sprint(mm["name"])
		}
	}
	if name == "" {
		return "", 0, fmt.Errorf("no volume is mounted there (the root filesystem is read-only and not sized)")
	}
	vols, _ := spec["volumes"].([]any)
	for _, v := range vols {
		vm, _ := v.(map[string]any)
		if vm["name"] != name {
			continue
		}
		if ed, ok := vm["emptyDir"].(map[string]any); ok {
			if n, ok := quantity(ed["sizeLimit"]); ok {
				return name, n, nil
			}
			return name, 0, fmt.Errorf("emptyDir %s has no sizeLimit", name)
		}
	}
	vcts, _ := spec["volumeClaimTemplates"].([]any)
	for _, v := range vcts {
		vm, _ := v.(map[string]any)
		if GetPathOr(vm, nil, "metadata", "name") != name {
			continue
		}
		if n, ok := quantity(GetPathOr(vm, nil, "spec", "resources", "requests", "storage")); ok {
			return name, n, nil
		}
	}
	return name, 0, fmt.Errorf("volume %s is neither a sized emptyDir nor a volumeClaimTemplate", name)
}

// operatorDefaultStartup is what the operator's default startup probe waits
// (3 failures x 10 s) when spec.startupProbe is not set.
const operatorDefaultStartup = 30 * time.Second

// CheckStartup: the startup probe must outlast k8s_attributes'
// wait_for_metadata_timeout (plus 30 s for the rest of start-up), and a
// custom image must not be "upgraded" by the operator.
func CheckStartup(cr Object) []string {
	var problems []string
	spec := specOf(cr)
	if spec["upgradeStrategy"] != "none" {
		problems = append(problems, fmt.Sprintf("upgradeStrategy is %v, want none for the custom image %v", GetPathOr(spec, "automatic (default)", "upgradeStrategy"), spec["image"]))
	}
	budget := operatorDefaultStartup
	if sp, ok := spec["startupProbe"].(map[string]any); ok {
		period, ok1 := number(GetPathOr(sp, 10, "periodSeconds"))
		fails, ok2 := number(GetPathOr(sp, 3, "failureThreshold"))
		delay, _ := number(GetPathOr(sp, 0, "initialDelaySeconds"))
		if ok1 && ok2 {
			budget = time.Duration(delay+period*fails) * time.Second
		}
	}
	wait := 10 * time.Second // k8s_attributes' default wait_for_metadata_timeout
	if d, ok := duration(GetPathOr(specOf(cr), nil, "config", "processors", "k8s_attributes", "wait_for_metadata_timeout")); ok {
		wait = d
	}
	if en, _ := GetPath(specOf(cr), "config", "processors", "k8s_attributes", "wait_for_metadata"); en == true && budget < wait+30*time.Second {
		problems = append(problems, fmt.Sprintf("the startup probe gives up after %v, before wait_for_metadata_timeout (%v) + 30 s", budget, wait))
	}
	return problems
}

// maxStreamsPerConnection bounds a gRPC receiver's max_concurrent_streams:
// more requests in flight per connection than a replica has cores only
// queue decoded data in memory (testbed/README.md, "Overload").
const maxStreamsPerConnection = 64

// CheckReceivers: no receiver forwards the sender's headers into the request
// context (include_metadata), gRPC connections are recycled so that new
// replicas get load, and each gRPC connection has a bounded number of
// requests in flight.
func CheckReceivers(cr Object) []string {
	var problems []string
	cfg, _ := specOf(cr)["config"].(map[string]any)
	recvs, _ := cfg["receivers"].(map[string]any)
	for id, r := range recvs {
		protos, _ := GetPath(r.(map[string]any), "protocols")
		pm, _ := protos.(map[string]any)
		for proto, p := range pm {
			ppm, _ := p.(map[string]any)
			if ppm["include_metadata"] == true {
				problems = append(problems, fmt.Sprintf("%s.%s: include_metadata: true puts the sender's headers (its own X-Scope-OrgID) into the request context", id, proto))
			}
			if proto == "grpc" {
				age, ok := duration(GetPathOr(ppm, nil, "keepalive", "server_parameters", "max_connection_age"))
				if !ok || age <= 0 || age > 5*time.Minute {
					problems = append(problems, fmt.Sprintf("%s.grpc: keepalive.server_parameters.max_connection_age is %v, want 1s..5m so that long-lived gRPC senders spread over new replicas", id, GetPathOr(ppm, "unset", "keepalive", "server_parameters", "max_connection_age")))
				}
				if n, ok := number(ppm["max_concurrent_streams"]); !ok || n < 1 || n > maxStreamsPerConnection {
					problems = append(problems, fmt.Sprintf("%s.grpc: max_concurrent_streams is %v, want 1..%d so that a sender over its share waits instead of being decoded and then refused", id, GetPathOr(ppm, "unset", "max_concurrent_streams"), maxStreamsPerConnection))
				}
			}
		}
	}
	return problems
}

// k8sClaimsStatement is the statement a transform statement must delete before
// k8s_attributes runs: every k8s.* resource attribute.
var k8sClaimsStatement = regexp.MustCompile(`^delete_matching_keys\(resource\.attributes,\s*"\^k8s\\\\\."\)$`)

// CheckClaimsStripped: a transform processor deletes every k8s.* resource
// attribute, and it runs before k8s_attributes in each pipeline.
func CheckClaimsStripped(cr Object) []string {
	cfg, _ := specOf(cr)["config"].(map[string]any)
	procs, _ := cfg["processors"].(map[string]any)
	strippers := map[string]bool{}
	for id, p := range procs {
		if ComponentType(id) != "transform" {
			continue
		}
		ts, _ := GetPath(p.(map[string]any), "trace_statements")
		tl, _ := ts.([]any)
		for _, group := range tl {
			gm, _ := group.(map[string]any)
			if gm["context"] != "resource" {
				continue
			}
			sts, _ := gm["statements"].([]any)
			for _, st := range sts {
				if k8sClaimsStatement.MatchString(strings.TrimSpace(fmt.Sprint(st))) {
					strippers[id] = true
				}
			}
		}
	}
	var problems []string
	pipes, _ := GetPath(cfg, "service", "pipelines")
	pm, _ := pipes.(map[string]any)
	for name, p := range pm {
		list, _ := GetPath(p.(map[string]any), "processors")
		l, _ := list.([]any)
		stripped := false
		for _, id := range l {
			if strippers[fmt.Sprint(id)] {
				stripped = true
			}
			if ComponentType(fmt.Sprint(id)) == "k8s_attributes" && !stripped {
				problems = append(problems, fmt.Sprintf("pipeline %s: k8s_attributes runs without a transform before it that deletes every k8s.* resource attribute (delete_matching_keys(resource.attributes, \"^k8s\\\\.\"))", name))
			}
		}
	}
	return problems
}

// CheckAutoscaler: CPU is the scaling signal, with a slow scale-down.
func CheckAutoscaler(cr Object) []string {
	a, ok := specOf(cr)["autoscaler"].(map[string]any)
	if !ok {
		return nil
	}
	var problems []string
	if _, ok := number(a["targetCPUUtilization"]); !ok {
		problems = append(problems, "autoscaler.targetCPUUtilization is not set: CPU is what the pipeline runs out of")
	}
	if w, ok := number(GetPathOr(a, nil, "behavior", "scaleDown", "stabilizationWindowSeconds")); !ok || w < 300 {
		problems = append(problems, "autoscaler.behavior.scaleDown.stabilizationWindowSeconds is not set to at least 300")
	}
	return problems
}

// Peer is a pod as NetworkPolicies see it.
type Peer struct {
	Namespace string
	Labels    map[string]string
}

// Allowed evaluates NetworkPolicy ingress semantics: traffic from src to
// port of dst is allowed if no policy selects dst for ingress, or if any rule
// of a policy that selects dst admits src on that port. Namespaces carry the
// label kubernetes.io/metadata.name. An ipBlock admits every source (the
// checks treat it as the broadest rule).
func Allowed(pols []networkingv1.NetworkPolicy, src Peer, dst Peer, port int32) bool {
	selected := false
	for _, p := range pols {
		if p.Namespace != dst.Namespace || !matches(&p.Spec.PodSelector, dst.Labels) || !hasIngress(p) {
			continue
		}
		selected = true
		for _, r := range p.Spec.Ingress {
			if portMatches(r.Ports, port) && fromMatches(r.From, p.Namespace, src) {
				return true
			}
		}
	}
	return !selected
}

func hasIngress(p networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return true
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

func matches(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil {
			return true
		}
		lo := p.Port.IntVal
		hi := lo
		if p.EndPort != nil {
			hi = *p.EndPort
		}
		if port >= lo && port <= hi {
			return true
		}
	}
	return false
}

func fromMatches(from []networkingv1.NetworkPolicyPeer, policyNS string, src Peer) bool {
	if len(from) == 0 {
		return true
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": src.Namespace}
	for _, f := range from {
		switch {
		case f.IPBlock != nil:
			return true
		case f.NamespaceSelector != nil && f.PodSelector != nil:
			if matches(f.NamespaceSelector, nsLabels) && matches(f.PodSelector, src.Labels) {
				return true
			}
		case f.NamespaceSelector != nil:
			if matches(f.NamespaceSelector, nsLabels) {
				return true
			}
		case f.PodSelector != nil:
			if src.Namespace == policyNS && matches(f.PodSelector, src.Labels) {
				return true
			}
		}
	}
	return false
}
