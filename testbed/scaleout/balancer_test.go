package scaleout

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers every line with "<name> <line>" until the client
// closes; it stops with the test.
func echoServer(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := fmt.Fprintf(c, "%s %s\n", name, sc.Text()); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, msg string) string {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := fmt.Fprintf(c, "%s\n", msg)
	require.NoError(t, err)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	return line[:len(line)-1]
}

// TestBalancerRoundRobinPerConnection checks that connections, not
// messages, are balanced: each connection stays on the backend it was given,
// new connections rotate over the backends, and a backend added later joins
// the rotation for new connections only.
func TestBalancerRoundRobinPerConnection(t *testing.T) {
	a, b, c := echoServer(t, "a"), echoServer(t, "b"), echoServer(t, "c")
	bal, err := NewBalancer(a, b)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, bal.Close()) })

	dial := func() (net.Conn, *bufio.Reader) {
		conn, err := net.DialTimeout("tcp", bal.Addr(), 2*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return conn, bufio.NewReader(conn)
	}
	first, r1 := dial()
	second, r2 := dial()
	assert.Equal(t, "a x", roundTrip(t, first, r1, "x"))
	assert.Equal(t, "b x", roundTrip(t, second, r2, "x"))
	for i := range 3 {
		assert.Equal(t, fmt.Sprintf("a %d", i), roundTrip(t, first, r1, fmt.Sprint(i)), "the connection stays on a")
	}

	require.NoError(t, bal.Add(c))
	var got []string
	for range 3 {
		conn, r := dial()
		got = append(got, roundTrip(t, conn, r, "y")[:1])
	}
	assert.ElementsMatch(t, []string{"a", "b", "c"}, got, "new connections rotate over all three")
	assert.Equal(t, "a z", roundTrip(t, first, r1, "z"), "old connections do not move")
	st := bal.Stats()
	assert.Equal(t, map[string]int{a: 2, b: 2, c: 1}, st.Routed)
	assert.Equal(t, 0, st.DialFailures)
}

// TestBalancerClosesBothSides checks the clean end of a proxied connection:
// a client that closes is seen by the backend as EOF, and a backend that
// closes is seen by the client as EOF, after every byte it sent.
func TestBalancerClosesBothSides(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	bal, err := NewBalancer(ln.Addr().String())
	require.NoError(t, err)
	defer func() { require.NoError(t, bal.Close()) }()

	// Backend says goodbye and closes; the client must read it all, then EOF.
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		_, err = io.WriteString(c, "bye")
		_ = c.Close()
		served <- err
	}()
	conn, err := net.DialTimeout("tcp", bal.Addr(), 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	all, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Equal(t, "bye", string(all))
	require.NoError(t, <-served)
	require.NoError(t, conn.Close())

	// Client sends and half-closes; the backend must read it all, then EOF.
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	}()
	conn2, err := net.DialTimeout("tcp", bal.Addr(), 2*time.Second)
	require.NoError(t, err)
	defer conn2.Close()
	_, err = io.WriteString(conn2, "hello")
	require.NoError(t, err)
	require.NoError(t, conn2.(*net.TCPConn).CloseWrite())
	assert.Equal(t, "hello", <-got)

	// Each side has now closed (the backend, then the client after EOF; the
	// client's write half, then the backend after EOF): nothing stays open.
	require.Eventually(t, func() bool { return bal.Stats().Active[ln.Addr().String()] == 0 },
		5*time.Second, 10*time.Millisecond, "both proxied connections are closed")
	assert.Equal(t, 2, bal.Stats().Routed[ln.Addr().String()])
}

// TestBalancerRefusesNonLoopbackAndDeadBackends checks the guard rails: only
// loopback backends are accepted, and a client whose backend cannot be
// reached is closed and counted.
func TestBalancerRefusesNonLoopbackAndDeadBackends(t *testing.T) {
	_, err := NewBalancer("10.0.0.1:4317")
	require.Error(t, err)
	_, err = NewBalancer("localhost:4317")
	require.Error(t, err, "names are not resolved: loopback IPs only")

	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := dead.Addr().String()
	require.NoError(t, dead.Close())
	bal, err := NewBalancer(deadAddr)
	require.NoError(t, err)
	defer func() { require.NoError(t, bal.Close()) }()
	require.Error(t, bal.Add("192.168.1.1:80"))

	conn, err := net.DialTimeout("tcp", bal.Addr(), 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the client is closed when its backend is down")
	assert.Equal(t, 1, bal.Stats().DialFailures)
}
