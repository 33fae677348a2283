package fakek8s // import "github.com/otelcol-mesh/otelcol-mesh/testbed/fakek8s"

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// term is one equality requirement of a label or field selector.
type term struct {
	key, value string
	not        bool
}

type selectors struct {
	labels, fields []term
}

// parseSelectors reads the equality terms (k=v, k==v, k!=v) of a label and a
// field selector. Terms of any other form (set-based, existence) are ignored,
// i.e. they match everything: enough for k8s_attributes' filters.
func parseSelectors(label, field string) selectors {
	return selectors{labels: parseTerms(label), fields: parseTerms(field)}
}

func parseTerms(s string) []term {
	var out []term
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || strings.ContainsAny(part, "()") {
			continue
		}
		if k, v, ok := strings.Cut(part, "!="); ok {
			out = append(out, term{key: strings.TrimSpace(k), value: strings.TrimSpace(v), not: true})
			continue
		}
		if k, v, ok := strings.Cut(part, "=="); ok {
			out = append(out, term{key: strings.TrimSpace(k), value: strings.TrimSpace(v)})
			continue
		}
		if k, v, ok := strings.Cut(part, "="); ok {
			out = append(out, term{key: strings.TrimSpace(k), value: strings.TrimSpace(v)})
		}
	}
	return out
}

func matchTerms(terms []term, values map[string]string, unknownMatches bool) bool {
	for _, t := range terms {
		v, ok := values[t.key]
		if !ok && unknownMatches {
			continue
		}
		if (v == t.value) == t.not {
			return false
		}
	}
	return true
}

// match checks labels against the label terms and the given field values
// against the field terms (fields the fake does not know match).
func (s selectors) match(labels, fields map[string]string) bool {
	return matchTerms(s.labels, labels, false) && matchTerms(s.fields, fields, true)
}

func (s selectors) matchPod(p *corev1.Pod) bool {
	return s.match(p.Labels, map[string]string{
		"metadata.name":      p.Name,
		"metadata.namespace": p.Namespace,
		"spec.nodeName":      p.Spec.NodeName,
		"status.phase":       string(p.Status.Phase),
	})
}
