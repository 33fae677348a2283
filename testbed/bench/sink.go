package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-mesh/otelcol-mesh/testbed/temposink"
)

// Sink is the Tempo-like sink the collector exports to, in this process or
// in its own (so that its CPU is not charged to the generator).
type Sink interface {
	GRPCAddr() string
	Stats() (temposink.Stats, error)
	// PID is the sink's process ID, 0 when it runs in this process.
	PID() int
	Close()
}

// InProcessSink wraps a temposink started here.
type InProcessSink struct{ *temposink.Sink }

// StartInProcessSink starts a sink in this process; keep makes it keep the
// spans (Traces) rather than only count them.
func StartInProcessSink(keep bool) (*InProcessSink, error) {
	s, err := temposink.Start(temposink.Config{GRPCAddr: "127.0.0.1:0", CountOnly: !keep})
	if err != nil {
		return nil, err
	}
	return &InProcessSink{s}, nil
}

func (s *InProcessSink) Stats() (temposink.Stats, error) { return s.Sink.Stats(), nil }
func (s *InProcessSink) PID() int                        { return 0 }
func (s *InProcessSink) Close()                          { s.Stop() }

// sinkReady is the line ServeSink prints once it listens.
const sinkReady = "SINK-READY"

// ServeSink runs a counting sink until SIGTERM/SIGINT or ctx ends: the body
// of the sink process. It prints "SINK-READY <grpc addr> <stats addr>" on
// stdout; GET http://<stats addr>/stats answers temposink.Stats as JSON.
func ServeSink(ctx context.Context) error {
	s, err := temposink.Start(temposink.Config{GRPCAddr: "127.0.0.1:0", CountOnly: true})
	if err != nil {
		return err
	}
	defer s.Stop()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()
	fmt.Printf("%s %s %s\n", sinkReady, s.GRPCAddr(), lis.Addr())
	<-ctx.Done()
	return nil
}

// ProcessSink is a sink running in a child process (see ServeSink).
type ProcessSink struct {
	cmd      *exec.Cmd
	grpcAddr string
	statsURL string
	client   *http.Client
}

// StartProcessSink starts `exe args...` (a program that calls ServeSink)
// and waits for its ready line. The child dies with this process.
func StartProcessSink(exe string, args ...string) (*ProcessSink, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), sinkReady) {
				lines <- sc.Text()
			}
		}
	}()
	select {
	case line := <-lines:
		f := strings.Fields(line)
		if len(f) != 3 {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("sink process: bad ready line %q", line)
		}
		return &ProcessSink{cmd: cmd, grpcAddr: f[1], statsURL: "http://" + f[2] + "/stats", client: &http.Client{Timeout: 10 * time.Second}}, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, errors.New("sink process: not ready within 30s")
	}
}

func (s *ProcessSink) GRPCAddr() string { return s.grpcAddr }
func (s *ProcessSink) PID() int         { return s.cmd.Process.Pid }

func (s *ProcessSink) Stats() (temposink.Stats, error) {
	var st temposink.Stats
	resp, err := s.client.Get(s.statsURL)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("sink stats: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// Close stops the sink process (SIGTERM, then SIGKILL after 10s).
func (s *ProcessSink) Close() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}
