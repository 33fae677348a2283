// Package scaleout is the scale-out scenario: several collector processes
// behind a connection-level round-robin balancer, as replicas behind a
// Kubernetes Service (kube-proxy balances connections, not requests), fed
// by long-lived gRPC senders. A replica added under load only gets traffic
// when senders open new connections, which is what the gRPC receiver's
// keepalive.server_parameters.max_connection_age makes them do.
package scaleout

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds the connection to a backend; loopback answers at once.
const dialTimeout = 2 * time.Second

// Balancer is a TCP proxy on 127.0.0.1 that sends each accepted connection
// to the next backend in round-robin order over the current backend set and
// copies bytes both ways until either side closes. It sees connections, not
// requests: an HTTP/2 connection stays on the backend it was first given.
type Balancer struct {
	ln net.Listener

	mu       sync.Mutex
	backends []string
	next     int
	closed   bool
	open     map[net.Conn]struct{} // both sides of every proxied connection
	routed   map[string]int        // connections given to each backend
	active   map[string]int        // of those, still open
	failures int                   // connections whose backend dial failed

	wg sync.WaitGroup
}

// NewBalancer listens on a free loopback port and starts accepting. Every
// backend must be a loopback host:port.
func NewBalancer(backends ...string) (*Balancer, error) {
	for _, b := range backends {
		if err := checkLoopback(b); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("balancer: listen: %w", err)
	}
	b := &Balancer{
		ln:       ln,
		backends: append([]string(nil), backends...),
		open:     map[net.Conn]struct{}{},
		routed:   map[string]int{},
		active:   map[string]int{},
	}
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("balancer: backend %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("balancer: backend %q is not a loopback IP address", addr)
	}
	return nil
}

// Addr is the listen address (127.0.0.1:port).
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// Add puts a backend into the rotation; connections accepted from now on
// may go to it. Existing connections stay where they are.
func (b *Balancer) Add(backend string) error {
	if err := checkLoopback(backend); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("balancer: closed")
	}
	b.backends = append(b.backends, backend)
	return nil
}

// Stats is a snapshot of the connections per backend.
type Stats struct {
	// Routed counts connections given to each backend since the start.
	Routed map[string]int
	// Active counts those still open.
	Active map[string]int
	// DialFailures counts client connections closed because their backend
	// could not be reached.
	DialFailures int
}

// Stats returns the connection counts.
func (b *Balancer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{Routed: make(map[string]int, len(b.routed)), Active: make(map[string]int, len(b.active)), DialFailures: b.failures}
	for k, v := range b.routed {
		s.Routed[k] = v
	}
	for k, v := range b.active {
		s.Active[k] = v
	}
	return s
}

// Close stops accepting, closes every proxied connection and waits until
// all of the balancer's goroutines have ended. Calling it again is harmless.
func (b *Balancer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wg.Wait()
		return nil
	}
	b.closed = true
	err := b.ln.Close()
	for c := range b.open {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
	return err
}

func (b *Balancer) accept() {
	defer b.wg.Done()
	for {
		client, err := b.ln.Accept()
		if err != nil {
			return // listener closed
		}
		b.mu.Lock()
		if b.closed || len(b.backends) == 0 {
			b.mu.Unlock()
			_ = client.Close()
			continue
		}
		backend := b.backends[b.next%len(b.backends)]
		b.next++
		b.open[client] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go b.proxy(client, backend)
	}
}

// proxy connects client to backend and copies both ways. When one side
// finishes sending (EOF), the other side's write half is closed so that it
// sees the end of the stream too; when both directions are done, or on any
// error, both connections are closed.
func (b *Balancer) proxy(client net.Conn, backend string) {
	defer b.wg.Done()
	server, err := net.DialTimeout("tcp", backend, dialTimeout)
	b.mu.Lock()
	if err != nil || b.closed {
		b.failures++
		delete(b.open, client)
		b.mu.Unlock()
		_ = client.Close()
		if server != nil {
			_ = server.Close()
		}
		return
	}
	b.open[server] = struct{}{}
	b.routed[backend]++
	b.active[backend]++
	b.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
			_ = cw.CloseWrite()
		} else {
			// An error (reset, or Close from the balancer): tear down both
			// sides so the other copy ends too.
			_ = dst.Close()
			_ = src.Close()
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
	_ = client.Close()
	_ = server.Close()

	b.mu.Lock()
	delete(b.open, client)
	delete(b.open, server)
	b.active[backend]--
	b.mu.Unlock()
}
