// Package harness runs the ocb-built otelcol-mesh binary as a child process
// for end-to-end tests and benchmarks: it finds the binary, picks free
// localhost ports (passed to its config files as environment variables),
// waits for the health check, scrapes the collector's own metrics, and always
// stops what it started.
package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names the environment variable that points at the binary. The
// Makefile sets it; without it the harness looks in the repo's _build/.
const BinaryEnv = "OTELCOL_MESH_BIN"

// CollectorBinary returns the path of the ocb-built binary, failing the test
// with instructions when it has not been built.
func CollectorBinary(tb testing.TB) string {
	tb.Helper()
	path, err := FindBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// FindBinary is CollectorBinary for programs that are not tests.
func FindBinary() (string, error) {
	path := os.Getenv(BinaryEnv)
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, "_build", "otelcol-mesh")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("collector binary not found at %s (%w): run `make build` or `make test`", path, err)
	}
	return path, nil
}

// RepoRoot is the repository's root directory, found from this source file.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := repoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// rootMarker is a file only the repository's root holds. It is not go.mod:
// the root has none (every module, the testbed's too, is a subdirectory).
const rootMarker = "builder-config.yaml"

// repoRoot walks up from this source file (then, when the binary was built
// with -trimpath, from the working directory) to the directory holding
// rootMarker.
func repoRoot() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, rootMarker)); err == nil {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("harness: no %s above this source file or the working directory %v", rootMarker, starts)
}

// ShippedConfigs returns the paths of the named shipped configs
// (distribution/config/<name>), in order, for Options.ConfigFiles.
func ShippedConfigs(tb testing.TB, names ...string) []string {
	tb.Helper()
	return configPaths(RepoRoot(tb), filepath.Join("distribution", "config"), names)
}

// OwnPipeline returns the config files of a collector with a pipeline of its
// own, for Options.ConfigFiles: testbed/testdata/collector.yaml (the health
// check, the OTLP receiver and the metrics endpoint on Options.Ports) and
// then each overlay, a path relative to testbed/testdata. Overlays merge
// maps and replace lists, later ones winning.
func OwnPipeline(tb testing.TB, overlays ...string) []string {
	tb.Helper()
	files, err := OwnPipelineFiles(overlays...)
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// OwnPipelineFiles is OwnPipeline for programs that are not tests.
func OwnPipelineFiles(overlays ...string) ([]string, error) {
	return TestdataFiles(append([]string{"collector.yaml"}, overlays...)...)
}

// TestdataFiles returns the paths of the named files (relative to
// testbed/testdata), in order.
func TestdataFiles(names ...string) ([]string, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	return configPaths(root, filepath.Join("testbed", "testdata"), names), nil
}

func configPaths(root, dir string, names []string) []string {
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(root, dir, filepath.FromSlash(n))
	}
	return paths
}

// FixturesDir is examples/: the proxy spans the README posts to `make run`.
func FixturesDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(RepoRoot(tb), "examples")
}

// Ports are the collector's listening ports, each freshly allocated.
type Ports struct {
	OTLPGRPC int
	OTLPHTTP int
	Health   int
	Metrics  int
}

// Env names the ports as the environment variables that the shipped
// local.yaml and testbed/testdata/collector.yaml read. The harness sets them
// for every collector it starts on these ports.
func (p Ports) Env() map[string]string {
	return map[string]string{
		"OTLP_GRPC_ENDPOINT":    fmt.Sprintf("127.0.0.1:%d", p.OTLPGRPC),
		"OTLP_HTTP_ENDPOINT":    fmt.Sprintf("127.0.0.1:%d", p.OTLPHTTP),
		"HEALTH_CHECK_ENDPOINT": fmt.Sprintf("127.0.0.1:%d", p.Health),
		"METRICS_PORT":          strconv.Itoa(p.Metrics),
	}
}

// NewPorts allocates the four ports a collector config needs.
func NewPorts(tb testing.TB) Ports {
	tb.Helper()
	return Ports{OTLPGRPC: FreePort(tb), OTLPHTTP: FreePort(tb), Health: FreePort(tb), Metrics: FreePort(tb)}
}

// AllocPorts is NewPorts for programs that are not tests.
func AllocPorts() (Ports, error) {
	var p Ports
	for _, dst := range []*int{&p.OTLPGRPC, &p.OTLPHTTP, &p.Health, &p.Metrics} {
		port, err := freePort()
		if err != nil {
			return p, fmt.Errorf("free port: %w", err)
		}
		*dst = port
	}
	return p, nil
}

// Options configure one collector process.
type Options struct {
	// ConfigFiles are the config files, each passed with its own --config
	// (later ones override earlier ones: maps merge, lists are replaced).
	// They read their ports and the test's addresses with ${env:...}.
	ConfigFiles []string
	// Config is YAML text loaded after ConfigFiles, for an overlay a test
	// generates. Leave it empty to run only ConfigFiles.
	Config string
	// Ports must match the config: Health is polled for readiness and
	// Metrics is scraped by Metrics. When set, they are passed to the
	// process as the variables of Ports.Env.
	Ports Ports
	// Env adds environment variables to the process (over the Ports').
	Env map[string]string
	// StartTimeout bounds the wait for the health check (default 60s).
	StartTimeout time.Duration
	// Dir is the working directory; a test temp dir when empty.
	Dir string
}

// Collector is a running otelcol-mesh process.
type Collector struct {
	tb      testing.TB
	opts    Options
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	once    sync.Once
}

// Start launches the binary on opts.Config and waits until it is healthy.
// The test's cleanup stops it (SIGKILL if it does not exit) and prints its
// log when the test failed.
func Start(tb testing.TB, opts Options) *Collector {
	tb.Helper()
	c := Launch(tb, opts)
	if err := c.WaitHealthy(); err != nil {
		tb.Fatalf("collector did not become healthy: %v\n--- collector log ---\n%s", err, c.Log())
	}
	return c
}

// Launch starts the process without waiting for it to become healthy, for
// tests that expect start-up to fail.
func Launch(tb testing.TB, opts Options) *Collector {
	tb.Helper()
	bin := CollectorBinary(tb)
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	c, err := launch(bin, opts)
	if err != nil {
		tb.Fatal(err)
	}
	c.tb = tb
	tb.Cleanup(func() {
		if !c.Exited() {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		if tb.Failed() {
			tb.Logf("--- collector log (%s) ---\n%s", c.logPath, c.Log())
		}
	})
	return c
}

// StartProcess is Start for programs that are not tests: it launches the
// binary (FindBinary) in opts.Dir, which must exist, and waits until it is
// healthy. The caller must Stop or Kill it.
func StartProcess(opts Options) (*Collector, error) {
	bin, err := FindBinary()
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("harness: StartProcess needs Options.Dir")
	}
	c, err := launch(bin, opts)
	if err != nil {
		return nil, err
	}
	if err := c.WaitHealthy(); err != nil {
		c.Kill()
		return nil, fmt.Errorf("collector did not become healthy: %w\n--- collector log ---\n%s", err, c.Log())
	}
	return c, nil
}

// Validate runs `otelcol-mesh validate` (FindBinary) on the config opts
// would start, with the same files and environment, in opts.Dir, which must
// exist. The error carries the binary's output.
func Validate(opts Options) error {
	bin, err := FindBinary()
	if err != nil {
		return err
	}
	cmd, err := command(bin, opts, "validate")
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("validate: %w\n%s", err, out)
	}
	return nil
}

// command is the binary's command line for opts (the subcommand first, then
// a --config per file; Config is written to opts.Dir), in opts.Dir and with
// opts' environment.
func command(bin string, opts Options, subcommand ...string) (*exec.Cmd, error) {
	args := subcommand
	for _, f := range opts.ConfigFiles {
		args = append(args, "--config", "file:"+f)
	}
	if opts.Config != "" {
		cfgPath := filepath.Join(opts.Dir, "config.yaml")
		if err := os.WriteFile(cfgPath, []byte(opts.Config), 0o600); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		args = append(args, "--config", "file:"+cfgPath)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), processEnv(opts)...)
	return cmd, nil
}

func launch(bin string, opts Options) (*Collector, error) {
	cmd, err := command(bin, opts)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(opts.Dir, "collector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start collector: %w", err)
	}
	c := &Collector{opts: opts, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	return c, nil
}

// processEnv is the KEY=VALUE list of the ports' variables (when the ports
// are set) and opts.Env, which wins, in a stable order.
func processEnv(opts Options) []string {
	vars := map[string]string{}
	if opts.Ports != (Ports{}) {
		maps.Copy(vars, opts.Ports.Env())
	}
	maps.Copy(vars, opts.Env)
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// PID is the process ID.
func (c *Collector) PID() int { return c.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (c *Collector) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// WaitExit waits up to timeout for the process to end by itself and returns
// its exit error (nil for exit code 0).
func (c *Collector) WaitExit(timeout time.Duration) error {
	select {
	case <-c.done:
		return c.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("collector still running after %s", timeout)
	}
}

// WaitHealthy polls the health_check endpoint until it answers 200.
func (c *Collector) WaitHealthy() error {
	timeout := c.opts.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", c.opts.Ports.Health)
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if c.Exited() {
			return fmt.Errorf("collector exited during start-up: %v", c.waitErr)
		}
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no healthy answer from %s within %s", url, timeout)
}

// Stop sends SIGTERM and waits up to timeout for a clean exit; past that it
// kills the process and reports the timeout. It returns the exit error.
func (c *Collector) Stop(timeout time.Duration) error {
	c.once.Do(func() { _ = c.cmd.Process.Signal(syscall.SIGTERM) })
	select {
	case <-c.done:
		return c.waitErr
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("collector did not exit within %s of SIGTERM", timeout)
	}
}

// Kill ends the process with SIGKILL, as a crash or OOM kill would.
func (c *Collector) Kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// Log returns what the process has written so far.
func (c *Collector) Log() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// Metrics scrapes the collector's own Prometheus endpoint.
func (c *Collector) Metrics(ctx context.Context) (Metrics, error) {
	return Scrape(ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", c.opts.Ports.Metrics))
}

// LogContains reports whether the log has a line containing every part.
func (c *Collector) LogContains(parts ...string) bool {
	for _, line := range strings.Split(c.Log(), "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
