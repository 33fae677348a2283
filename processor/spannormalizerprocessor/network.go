package spannormalizerprocessor // import "github.com/otelcol-mesh/otelcol-mesh/processor/spannormalizerprocessor"

import "strings"

// readNetwork converts the addresses: the server the request was for, the
// network peer of the proxy's connection, and the client of the request.
func (s *spanState) readNetwork(r *rewrite) {
	r.hostPort, _ = s.port(oldHostPort)
	if name := s.textDone(oldHostName); isServerName(name) {
		r.hostName = name
	}
	r.httpHost, r.httpHostPort = s.hostPort(oldHTTPHost)
	if name := s.textDone(oldServerName); isServerName(name) {
		r.serverName = name
	}

	// net.peer.ip/net.peer.port and nginx-otel's net.sock.peer.* name the
	// remote end of the connection, as the old conventions define them.
	r.peerAddr = s.textDone(oldPeerIP)
	if r.peerAddr == "" {
		r.peerAddr = s.textDone(oldSockPeerAddr)
	}
	r.peerPort, _ = s.port(oldPeerPort)
	if r.peerPort == 0 {
		r.peerPort, _ = s.port(oldSockPeerPort)
	}
	// Envoy's peer.address on the connection manager's span is the
	// downstream (the TCP peer, IP only), whatever the span's kind: on a
	// sidecar's outbound span the calling app, on a gateway span the
	// external client. It is the network peer only on SERVER spans; on
	// every kind it is the client of the request. On the router's upstream
	// span it is the upstream host (ip:port), as upstream_address is.
	downAddr, downPort := "", int64(0)
	if r.upstreamSpan {
		if r.peerAddr == "" {
			r.peerAddr, r.peerPort = s.envoyAddress(oldUpstreamAddress)
		}
		if h, port := s.envoyAddress(oldPeerAddress); r.peerAddr == "" {
			r.peerAddr, r.peerPort = h, port
		}
	} else {
		downAddr, downPort = s.envoyAddress(oldPeerAddress)
		if r.server && r.peerAddr == "" {
			r.peerAddr, r.peerPort = downAddr, downPort
		}
	}
	if r.server { // http.client_ip: the original client behind proxies
		r.clientAddr = s.textDone(oldClientIP)
	}
	switch {
	case r.clientAddr != "": // a forwarded address: its port is unknown
	case downAddr != "":
		r.clientAddr, r.clientPort = downAddr, downPort
	case r.server:
		r.clientAddr, r.clientPort = r.peerAddr, r.peerPort
	}
}

// readDestination fills server.address and server.port. What the dialect
// resolved (the cluster a CLIENT span called) comes first on CLIENT spans;
// on SERVER spans the host the client asked for does. A known address
// without a port gets the scheme's default port (server.port is required
// on CLIENT spans).
func (s *spanState) readDestination(r *rewrite) {
	if r.client {
		r.serverAddr = firstNonEmpty(r.serverAddr, r.urlHost, r.httpHost, r.serverName, r.hostName)
		r.serverPort = firstNonZero(r.serverPort, r.urlPort, r.httpHostPort, r.hostPort)
	} else if host := firstNonEmpty(r.httpHost, r.urlHost, r.serverName, r.hostName); host != "" {
		r.serverAddr = host
		r.serverPort = firstNonZero(r.hostPort, r.httpHostPort, r.urlPort, r.inboundPort)
	} else {
		// No host from the request: what the dialect resolved, if anything
		// (a waypoint's service).
		r.serverPort = firstNonZero(r.hostPort, r.inboundPort, r.serverPort)
	}
	if r.serverAddr != "" && r.serverPort == 0 {
		switch r.scheme {
		case "http":
			r.serverPort = 80
		case "https":
			r.serverPort = 443
		}
	}
}

// isServerName reports whether an nginx server_name is a host: not the
// catch-all "_", a wildcard or a regular expression.
func isServerName(name string) bool {
	if name == "" || name == "_" || name[0] == '~' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '*' {
			return false
		}
	}
	return true
}

// envoyAddress reads an Envoy address tag: `ip`, `ip:port` or `[v6]:port`.
// Envoy writes the logical name of a non-IP address (`envoy://...` for its
// internal listeners, as on waypoints): no network address, left as it is.
func (s *spanState) envoyAddress(k int) (string, int64) {
	if v := &s.old[k]; v.kind == kindStr && strings.HasPrefix(v.s, "envoy://") {
		return "", 0
	}
	return s.hostPort(k)
}
