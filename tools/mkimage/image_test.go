package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fakeCollector stands in for otelcol-mesh: a static Go program that echoes
// its arguments, built once for all tests.
const fakeCollector = `package main

import (
	"fmt"
	"os"
	"strings"
)

func main() { fmt.Println("fake-otelcol-mesh " + strings.Join(os.Args[1:], " ")) }
`

var fakeBinaryPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mkimage-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fakeBinaryPath, err = buildFakeCollector(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the fake collector:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildFakeCollector(dir string) (string, error) {
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(fakeCollector), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "otelcol-mesh")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, src)
	cmd.Dir = dir
	// As `make build`: static, for the machine the test runs on so that the
	// binary taken back out of the layer can be run.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, b)
	}
	return out, nil
}

// inputs writes the files mkimage reads and returns options using them.
func inputs(t *testing.T) options {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return options{
		Binary:      fakeBinaryPath,
		Config:      write("container.yaml", "receivers:\n  otlp: {}\n"),
		TempoConfig: write("tempo.yaml", "exporters:\n  otlp_grpc/tempo: {}\n"),
		CACerts:     write("ca.crt", "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"),
		OutDir:      filepath.Join(dir, "out"),
		Tag:         "example.test/otelcol-mesh:1.2.3",
		Arch:        runtime.GOARCH,
		Revision:    "0123abc",
		Created:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type entry struct {
	typ      byte
	mode     int64
	uid, gid int
	mtime    time.Time
	content  []byte
}

// layerEntries reads the image's only layer back through the library.
func layerEntries(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[hdr.Name]; dup {
			t.Errorf("layer has %s twice", hdr.Name)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = entry{typ: hdr.Typeflag, mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, mtime: hdr.ModTime.UTC(), content: content}
	}
	return got
}

// checkImage asserts what the Dockerfile promises, for an image read back
// from either output.
func checkImage(t *testing.T, img v1.Image, o options) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/otelcol-mesh"}) {
		t.Errorf("Entrypoint = %q", c.Entrypoint)
	}
	if !slices.Equal(c.Cmd, []string{"--config", "/etc/otelcol-mesh/config.yaml"}) {
		t.Errorf("Cmd = %q", c.Cmd)
	}
	if c.User != "10001:10001" {
		t.Errorf("User = %q, want 10001:10001", c.User)
	}
	var ports []string
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if want := []string{"13133/tcp", "4317/tcp", "4318/tcp", "8888/tcp"}; !slices.Equal(ports, want) {
		t.Errorf("ExposedPorts = %q, want %q", ports, want)
	}
	if !slices.Equal(c.Env, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}) || c.WorkingDir != "/" {
		t.Errorf("Env = %q, WorkingDir = %q; want BuildKit's defaults for FROM scratch", c.Env, c.WorkingDir)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":       "otelcol-mesh",
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.version":     "1.2.3",
		"org.opencontainers.image.revision":    "0123abc",
	}
	if len(c.Labels) != len(wantLabels) {
		t.Errorf("Labels = %v, want %v", c.Labels, wantLabels)
	}
	for k, v := range wantLabels {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if cf.OS != "linux" || cf.Architecture != o.Arch {
		t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, o.Arch)
	}
	if !cf.Created.Time.Equal(o.Created) {
		t.Errorf("Created = %v, want %v", cf.Created.Time, o.Created)
	}
	if len(cf.RootFS.DiffIDs) != 1 || len(cf.History) != 1 {
		t.Errorf("rootfs has %d diff IDs and %d history entries, want 1 and 1", len(cf.RootFS.DiffIDs), len(cf.History))
	}

	got := layerEntries(t, img)
	dir := entry{typ: tar.TypeDir, mode: 0o755}
	file := func(mode int64, content []byte) entry { return entry{typ: tar.TypeReg, mode: mode, content: content} }
	want := map[string]entry{
		"etc/":                              dir,
		"etc/group":                         file(0o644, []byte("root:x:0:\notelcol:x:10001:\n")),
		"etc/otelcol-mesh/":                 dir,
		"etc/otelcol-mesh/config.yaml":      file(0o644, readFile(t, o.Config)),
		"etc/otelcol-mesh/tempo.yaml":       file(0o644, readFile(t, o.TempoConfig)),
		"etc/passwd":                        file(0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\notelcol:x:10001:10001:otelcol-mesh:/:/sbin/nologin\n")),
		"etc/ssl/":                          dir,
		"etc/ssl/certs/":                    dir,
		"etc/ssl/certs/ca-certificates.crt": file(0o644, readFile(t, o.CACerts)),
		"otelcol-mesh":                      file(0o755, readFile(t, o.Binary)),
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("layer has unexpected %s", n)
		}
	}
	for n, w := range want {
		g, ok := got[n]
		if !ok {
			t.Errorf("layer lacks %s", n)
			continue
		}
		if g.typ != w.typ || g.mode != w.mode {
			t.Errorf("%s: type %q mode %#o, want type %q mode %#o", n, g.typ, g.mode, w.typ, w.mode)
		}
		if g.uid != 0 || g.gid != 0 {
			t.Errorf("%s: owned by %d:%d, want root", n, g.uid, g.gid)
		}
		if !g.mtime.Equal(o.Created) {
			t.Errorf("%s: mtime %v, want %v", n, g.mtime, o.Created)
		}
		if !bytes.Equal(g.content, w.content) {
			t.Errorf("%s: content differs from its source (%d bytes, want %d)", n, len(g.content), len(w.content))
		}
	}
}

func TestBuildReadBack(t *testing.T) {
	o := inputs(t)
	res, err := build(o)
	if err != nil {
		t.Fatal(err)
	}

	// The OCI layout: one image, tagged, for the platform, in OCI media types.
	idx, err := layout.ImageIndexFromPath(res.LayoutDir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	if desc.Digest != res.Digest {
		t.Errorf("index points at %s, build reported %s", desc.Digest, res.Digest)
	}
	if desc.Annotations["org.opencontainers.image.ref.name"] != "1.2.3" {
		t.Errorf("ref.name annotation = %q, want 1.2.3", desc.Annotations["org.opencontainers.image.ref.name"])
	}
	if desc.Platform == nil || desc.Platform.OS != "linux" || desc.Platform.Architecture != o.Arch {
		t.Errorf("index platform = %+v, want linux/%s", desc.Platform, o.Arch)
	}
	p, err := layout.FromPath(res.LayoutDir)
	if err != nil {
		t.Fatal(err)
	}
	fromLayout, err := p.Image(res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := fromLayout.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("media types: manifest %s, config %s; want OCI", m.MediaType, m.Config.MediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer || m.Layers[0].Digest != res.LayerDigest || m.Layers[0].Size != res.LayerSize {
		t.Errorf("manifest layers = %+v, want one %s of %s (%d bytes)", m.Layers, types.OCILayer, res.LayerDigest, res.LayerSize)
	}
	checkImage(t, fromLayout, o)

	// The docker-load tarball: found under its tag, same config and layer.
	tag, err := name.NewTag(o.Tag)
	if err != nil {
		t.Fatal(err)
	}
	fromTar, err := tarball.ImageFromPath(res.Tarball, &tag)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []v1.Image{fromLayout, fromTar} {
		if err := v1Validate(img); err != nil {
			t.Error(err)
		}
	}
	layoutCfg, _ := fromLayout.ConfigName()
	tarCfg, err := fromTar.ConfigName()
	if err != nil || tarCfg != layoutCfg {
		t.Errorf("tarball config %s (%v), layout config %s", tarCfg, err, layoutCfg)
	}
	checkImage(t, fromTar, o)

	// The binary taken back out of the layer still runs.
	bin := filepath.Join(t.TempDir(), "otelcol-mesh")
	if err := os.WriteFile(bin, layerEntries(t, fromTar)["otelcol-mesh"].content, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "components").CombinedOutput()
	if err != nil || string(out) != "fake-otelcol-mesh components\n" {
		t.Errorf("extracted binary: %q, %v", out, err)
	}

	// Nothing left behind but the two outputs.
	ents, err := os.ReadDir(o.OutDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"oci", "otelcol-mesh.tar"}) {
		t.Errorf("output dir holds %q", names)
	}
}

// v1Validate reads every blob back and checks it against its digest.
func v1Validate(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		want, err := l.DiffID()
		if err != nil {
			return err
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		got, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("layer diff ID %s, content hashes to %s", want, got)
		}
	}
	return nil
}

func TestBuildIsReproducible(t *testing.T) {
	o := inputs(t)
	first, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	// Rebuilding over the previous output replaces it.
	again, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != first.Digest {
		t.Errorf("same inputs: digest %s then %s", first.Digest, again.Digest)
	}
	o.OutDir = filepath.Join(t.TempDir(), "elsewhere")
	o.Created = o.Created.Add(time.Second)
	later, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	if later.Digest == first.Digest {
		t.Error("a different SOURCE_DATE_EPOCH gave the same digest")
	}
}

// fakeELF writes the smallest ELF file debug/elf accepts: a header and, when
// interp is set, one PT_INTERP program header (a dynamically linked binary).
func fakeELF(t *testing.T, machine elf.Machine, interp bool) string {
	t.Helper()
	h := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Phoff:     64,
		Ehsize:    64,
		Phentsize: 56,
		Shentsize: 64,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var progs []elf.Prog64
	if interp {
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 64 + 56, Filesz: 1, Memsz: 1})
		h.Phnum = 1
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		if err := binary.Write(&buf, binary.LittleEndian, p); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteByte(0)
	p := filepath.Join(t.TempDir(), "fake-elf")
	if err := os.WriteFile(p, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildRefusesBadInputs(t *testing.T) {
	otherArch := "arm64"
	if runtime.GOARCH == "arm64" {
		otherArch = "amd64"
	}
	tests := []struct {
		name    string
		mutate  func(t *testing.T, o *options)
		wantErr string
	}{
		{"missing binary", func(t *testing.T, o *options) { o.Binary = filepath.Join(t.TempDir(), "nope") }, "run `make build` first"},
		{"not an ELF", func(t *testing.T, o *options) { o.Binary = o.Config }, "is not an ELF executable"},
		{"wrong architecture", func(t *testing.T, o *options) { o.Arch = otherArch }, "but the image is linux/" + otherArch},
		{"unknown architecture", func(t *testing.T, o *options) { o.Arch = "s390x" }, `-arch "s390x"`},
		{"dynamically linked", func(t *testing.T, o *options) {
			o.Binary = fakeELF(t, elfMachines[o.Arch], true)
		}, "is dynamically linked"},
		{"missing CA bundle", func(t *testing.T, o *options) { o.CACerts = filepath.Join(t.TempDir(), "ca.crt") }, "CA bundle"},
		{"missing config", func(t *testing.T, o *options) { o.Config = filepath.Join(t.TempDir(), "c.yaml") }, "/etc/otelcol-mesh/config.yaml"},
		{"empty config", func(t *testing.T, o *options) {
			o.Config = filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(o.Config, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is empty"},
		{"config is a directory", func(t *testing.T, o *options) { o.Config = t.TempDir() }, "not a regular file"},
		{"bad tag", func(t *testing.T, o *options) { o.Tag = "Not A Tag" }, "-tag"},
		{"foreign oci dir", func(t *testing.T, o *options) {
			if err := os.MkdirAll(filepath.Join(o.OutDir, "oci"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "is not an OCI layout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := inputs(t)
			tt.mutate(t, &o)
			_, err := build(o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(o.OutDir, tarballName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a tarball was written despite the error (%v)", err)
			}
		})
	}
}

func TestStaticELFAccepted(t *testing.T) {
	// The fake ELF without PT_INTERP is what a CGO_ENABLED=0 build looks
	// like to the check; with it, the same file is refused (above).
	if err := checkBinary(fakeELF(t, elf.EM_X86_64, false), "amd64"); err != nil {
		t.Fatal(err)
	}
}

func TestRunFlags(t *testing.T) {
	o := inputs(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1767323045") // 2026-01-02T03:04:05Z
	var out bytes.Buffer
	err := run([]string{
		"-binary", o.Binary, "-config", o.Config, "-tempo-config", o.TempoConfig,
		"-ca-certs", o.CACerts, "-out", o.OutDir, "-tag", o.Tag, "-arch", o.Arch, "-revision", o.Revision,
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "digest    sha256:") {
		t.Errorf("output lacks the digest:\n%s", out.String())
	}
	p, err := layout.FromPath(filepath.Join(o.OutDir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, img, o)

	if err := run([]string{"-out", o.OutDir, "extra"}, io.Discard); err == nil {
		t.Error("positional arguments accepted")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if err := run([]string{"-out", o.OutDir}, io.Discard); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("bad SOURCE_DATE_EPOCH: err = %v", err)
	}
}

func TestWithoutTempoConfig(t *testing.T) {
	o := inputs(t)
	o.TempoConfig = ""
	if _, err := build(o); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(filepath.Join(o.OutDir, tarballName), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := layerEntries(t, img)["etc/otelcol-mesh/tempo.yaml"]; ok {
		t.Error("tempo.yaml in the layer though -tempo-config was empty")
	}
}
