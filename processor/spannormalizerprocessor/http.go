package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor/internal/parse"
)

// readHTTP converts the request method, the status code and the URL.
func (s *spanState) readHTTP(r *rewrite) {
	r.methodRaw, r.methodOK = s.text(oldMethod)
	if r.methodOK {
		s.done(oldMethod)
	}
	// The method that names the span: a stable value already on the span
	// wins; either way only a known method or "_OTHER" comes out, so the
	// name prefix is bounded.
	switch {
	case s.stableMethod != "":
		r.method, r.methodKnown = parse.Method(s.stableMethod)
	case r.methodOK:
		r.method, r.methodKnown = parse.Method(r.methodRaw)
	}

	if !s.missing(hasStatusCode) && s.stableStatus > 0 {
		r.statusCode, r.statusOK = s.stableStatus, true
	}
	if n, ok := s.integer(oldStatusCode); ok {
		switch {
		case n == 0: // Envoy: no response was received.
			s.done(oldStatusCode)
		case n >= 100 && n <= 599:
			s.done(oldStatusCode)
			if s.missing(hasStatusCode) {
				r.statusCode, r.statusOK, r.putStatus = n, true, true
				if v := &s.old[oldStatusCode]; v.kind == kindStr {
					r.statusText = v.s
				}
			}
		default:
			s.invalid++
		}
	}

	if raw, ok := s.text(oldURL); ok {
		if u, ok := parse.ParseURL(raw); ok {
			s.done(oldURL)
			r.scheme, r.path, r.query, r.hasQuery = u.Scheme, u.Path, u.Query, u.HasQuery
			r.urlHost, r.urlPort = u.Host, u.Port
			if r.client && u.Scheme != "" {
				r.urlFull = raw
			}
		} else {
			s.invalid++
		}
	}
	if raw, ok := s.text(oldTarget); ok {
		if u, ok := parse.ParseURL(raw); ok && u.Scheme == "" {
			s.done(oldTarget)
			if r.path == "" {
				r.path, r.query, r.hasQuery = u.Path, u.Query, u.HasQuery
			}
		} else {
			s.invalid++
		}
	}
	if scheme := s.textDone(oldScheme); r.scheme == "" {
		r.scheme = scheme
	}
}

// setStatus applies the semconv status rules: 5xx is an error, 4xx only on
// CLIENT spans, everything else unset; gRPC codes per the RPC conventions;
// Envoy response flags explain the error and make one when there is no code
// at all, as does a request that ended without a response. With no
// evidence, an OK set by the proxy is reset to unset. An error span gets
// error.type: the status code when the code is the error, else the
// proxy's low-cardinality identifier of what happened.
func setStatus(span ptrace.Span, attrs pcommon.Map, s *spanState, r *rewrite) {
	st := span.Status()
	if !r.statusOK && !r.grpcOK && !r.flagsOK && !r.noResponse {
		if st.Code() == ptrace.StatusCodeOk {
			st.SetCode(ptrace.StatusCodeUnset)
			st.SetMessage("")
		}
		return
	}
	httpErr := r.statusOK && (r.statusCode >= 500 || (r.client && r.statusCode >= 400))
	grpcErr := false
	if r.grpcOK && r.grpcStatus != 0 {
		if r.client {
			grpcErr = true
		} else {
			switch r.grpcStatus {
			case 2, 4, 12, 13, 14, 15: // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS
				grpcErr = true
			}
		}
	}
	flagsErr := r.flagsOK && !r.statusOK && !r.grpcOK
	if !httpErr && !grpcErr && !flagsErr && !r.noResponse {
		st.SetCode(ptrace.StatusCodeUnset)
		st.SetMessage("")
		return
	}
	st.SetCode(ptrace.StatusCodeError)
	if grpcErr && r.flagsMsg == "" {
		st.SetMessage(r.grpcMessage)
	} else {
		st.SetMessage(r.flagsMsg)
	}
	if !s.missing(hasErrorType) {
		return
	}
	switch {
	case r.noResponse:
		attrs.PutStr(attrErrorType, clientClosedRequest)
	case httpErr:
		text := r.statusText // Envoy's own string: no allocation
		if len(text) != 3 {  // "" for ints; a padded "0503" is not canonical
			text = strconv.FormatInt(r.statusCode, 10)
		}
		attrs.PutStr(attrErrorType, text)
	case grpcErr:
		attrs.PutStr(attrErrorType, strconv.FormatInt(r.grpcStatus, 10))
	case flagsErr:
		attrs.PutStr(attrErrorType, r.flagsErrorType)
	}
}
