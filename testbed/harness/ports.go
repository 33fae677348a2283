package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A port handed out here stays unused until the collector binds it, and in
// that window anything else may take it. Two things did, in CI: the kernel,
// which hands ports of its ephemeral range to outgoing connections (the load
// tests open many) and to other listeners on :0; and the test binaries of
// other packages, which go test runs in parallel. So ports come from below
// the ephemeral range, and each is reserved by a file that every test process
// of this repository respects for reservationTTL.
const (
	portRangeLow   = 20000
	reservationTTL = 2 * time.Minute
)

var (
	reservationDir = filepath.Join(os.TempDir(), "otelcol-mesh-test-ports")
	handedOut      sync.Map // port -> struct{}: never twice in one process
)

// FreePort returns a TCP port on 127.0.0.1 that is free and reserved for the
// caller.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	return port
}

// AllocPort is FreePort for programs that are not tests.
func AllocPort() (int, error) { return freePort() }

func freePort() (int, error) {
	high := ephemeralLow()
	if high-portRangeLow < 1000 {
		return kernelPort()
	}
	for range 500 {
		port := portRangeLow + rand.IntN(high-portRangeLow)
		if _, taken := handedOut.LoadOrStore(port, struct{}{}); taken {
			continue
		}
		if !reserve(reservationDir, port, time.Now()) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, errors.New("no free port below the ephemeral range after 500 tries")
}

// reserve claims port for this process unless another process claimed it
// within reservationTTL. The files are never removed: a stale one is simply
// claimed again.
func reserve(dir string, port int, now time.Time) bool {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true // no shared directory: the listen check alone decides
	}
	path := filepath.Join(dir, strconv.Itoa(port))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err == nil {
		_ = f.Close()
		return true
	}
	info, statErr := os.Stat(path)
	if statErr != nil || now.Sub(info.ModTime()) < reservationTTL {
		return false
	}
	// Stale: take it over. Two processes may race here, but only for a port
	// nobody has used for reservationTTL.
	return os.Chtimes(path, now, now) == nil
}

// ephemeralLow is the start of the kernel's ephemeral port range (Linux),
// 32768 where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 32768
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return low
}

func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
