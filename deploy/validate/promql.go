package validate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// promqlWords are PromQL functions, aggregations and keywords: identifiers in
// an expression that are not metric names.
var promqlWords = func() map[string]bool {
	words := map[string]bool{}
	for _, w := range strings.Fields(`
		sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio
		by without on ignoring group_left group_right bool offset and or unless atan2
		abs absent absent_over_time ceil changes clamp clamp_max clamp_min day_of_month day_of_week
		day_of_year days_in_month delta deriv exp floor histogram_avg histogram_count histogram_sum
		histogram_fraction histogram_quantile histogram_stddev histogram_stdvar holt_winters
		double_exponential_smoothing hour idelta increase irate label_join label_replace ln log2 log10
		minute month predict_linear rate resets round scalar sgn sort sort_desc sort_by_label
		sort_by_label_desc sqrt time timestamp vector year avg_over_time min_over_time max_over_time
		sum_over_time count_over_time quantile_over_time stddev_over_time stdvar_over_time
		last_over_time present_over_time mad_over_time acos acosh asin asinh atan atanh cos cosh sin
		sinh tan tanh deg pi rad inf nan info`) {
		words[w] = true
	}
	return words
}()

var (
	reBraces    = regexp.MustCompile(`\{[^{}]*\}`)
	reRange     = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	reGrafVar   = regexp.MustCompile(`\$\{[^}]*\}|\$__\w+|\$\w+`)
	reIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	reNumberish = regexp.MustCompile(`^(?:\d|e\d|Inf|NaN)`)
	reLabelVals = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
)

// MetricNames returns the metric names a PromQL expression (with Grafana
// variables) selects. Label matchers, grouping clauses, ranges, strings and
// variables are removed first; every identifier left that is not a PromQL
// function or keyword is a metric name.
func MetricNames(expr string) []string {
	s := reStrings.ReplaceAllString(expr, " ")
	s = reGrafVar.ReplaceAllString(s, " ")
	for {
		t := reBraces.ReplaceAllString(s, " ")
		if t == s {
			break
		}
		s = t
	}
	s = reRange.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	var out []string
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		// Skip the exponent/suffix part of numbers such as 1e3 or 5m.
		if loc[0] > 0 && isDigit(s[loc[0]-1]) {
			continue
		}
		if promqlWords[id] || reNumberish.MatchString(id) || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' || b == '.' }

// DashboardQueries returns every Prometheus query of a Grafana dashboard:
// panel targets (rows' nested panels too) and query variables.
func DashboardQueries(dashboard []byte) ([]string, error) {
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(dashboard, &d); err != nil {
		return nil, err
	}
	var out []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) != "" {
					out = append(out, t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return nil, fmt.Errorf("templating query: %w", err)
			}
			q = obj.Query
		}
		out = append(out, q)
	}
	return out, nil
}

type panel struct {
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// QueryMetricNames is MetricNames for a dashboard query, which may also be a
// Grafana variable query such as label_values(metric, label).
func QueryMetricNames(q string) []string {
	if m := reLabelVals.FindStringSubmatch(q); m != nil {
		return []string{m[1]}
	}
	return MetricNames(q)
}
