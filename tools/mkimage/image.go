package main

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths inside the image. The Dockerfile at the repository root uses the same
// (dockerfile_test.go compares the two).
const (
	binaryPath      = "/otelcol-mesh"
	configPath      = "/etc/otelcol-mesh/config.yaml"
	tempoConfigPath = "/etc/otelcol-mesh/tempo.yaml"
	caCertsPath     = "/etc/ssl/certs/ca-certificates.crt"
	passwdPath      = "/etc/passwd"
	groupPath       = "/etc/group"

	// The non-root user the collector runs as, as in the upstream
	// collector images.
	userID    = 10001
	userName  = "otelcol"
	imageUser = "10001:10001"

	layoutSubdir = "oci"
	tarballName  = "otelcol-mesh.tar"

	description = "OpenTelemetry Collector for Istio / ingress-nginx meshes exporting to multi-tenant Tempo"
)

// defaultPath is the PATH that BuildKit sets when the base image has none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// exposedPorts: OTLP gRPC, OTLP HTTP, health_check, the collector's own metrics.
var exposedPorts = []string{"4317/tcp", "4318/tcp", "13133/tcp", "8888/tcp"}

// passwd and group hold root and the collector's user, nothing else. The
// Dockerfile writes the same two files.
var (
	passwdContent = fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:otelcol-mesh:/:/sbin/nologin\n", userName, userID, userID)
	groupContent  = fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, userID)
)

// elfMachines maps the image architectures we build to the ELF machine their
// binary must have.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

type options struct {
	Binary      string
	Config      string
	TempoConfig string // optional
	CACerts     string
	OutDir      string
	Tag         string
	Arch        string
	Revision    string // optional
	Created     time.Time
}

// defaultOptions are relative to tools/, where `make image` runs us.
func defaultOptions() options {
	return options{
		Binary:      "../_build/otelcol-mesh",
		Config:      "../distribution/config/container.yaml",
		TempoConfig: "../distribution/config/local-tempo.yaml",
		CACerts:     "/etc/ssl/certs/ca-certificates.crt",
		OutDir:      "../_image",
		Tag:         "otelcol-mesh:dev",
		Arch:        "amd64",
		Created:     time.Unix(0, 0).UTC(),
	}
}

type result struct {
	Digest                v1.Hash
	LayerDigest           v1.Hash
	LayerSize             int64 // compressed, as stored and pulled
	LayerUncompressedSize int64
	LayoutDir             string
	Tarball               string
	TarballSize           int64
}

// layerFile is one regular file of the layer, read from the build machine.
type layerFile struct {
	dest string // absolute path in the image
	src  string // path on the build machine; empty when data is set
	data []byte
	mode int64
}

func build(o options) (*result, error) {
	tag, err := name.NewTag(o.Tag)
	if err != nil {
		return nil, fmt.Errorf("-tag %q: %w", o.Tag, err)
	}
	if err := checkBinary(o.Binary, o.Arch); err != nil {
		return nil, err
	}
	files := []layerFile{
		{dest: binaryPath, src: o.Binary, mode: 0o755},
		{dest: configPath, src: o.Config, mode: 0o644},
		{dest: caCertsPath, src: o.CACerts, mode: 0o644},
		{dest: passwdPath, data: []byte(passwdContent), mode: 0o644},
		{dest: groupPath, data: []byte(groupContent), mode: 0o644},
	}
	if o.TempoConfig != "" {
		files = append(files, layerFile{dest: tempoConfigPath, src: o.TempoConfig, mode: 0o644})
	}
	if err := checkSources(files, o.CACerts); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(o.OutDir, ".mkimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	layerPath := filepath.Join(tmp, "layer.tar.gz")
	uncompressed, err := writeLayer(layerPath, files, o.Created)
	if err != nil {
		return nil, fmt.Errorf("writing layer: %w", err)
	}
	layer, err := tarball.LayerFromFile(layerPath, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("reading layer back: %w", err)
	}

	img, err := assemble(layer, tag, o)
	if err != nil {
		return nil, err
	}

	res := &result{LayerUncompressedSize: uncompressed}
	if res.Digest, err = img.Digest(); err != nil {
		return nil, err
	}
	if res.LayerDigest, err = layer.Digest(); err != nil {
		return nil, err
	}
	if res.LayerSize, err = layer.Size(); err != nil {
		return nil, err
	}

	res.LayoutDir = filepath.Join(o.OutDir, layoutSubdir)
	if err := writeLayout(res.LayoutDir, img, tag, o.Arch); err != nil {
		return nil, fmt.Errorf("writing OCI layout %s: %w", res.LayoutDir, err)
	}
	res.Tarball = filepath.Join(o.OutDir, tarballName)
	partial := filepath.Join(tmp, tarballName)
	if err := tarball.WriteToFile(partial, tag, img); err != nil {
		return nil, fmt.Errorf("writing tarball: %w", err)
	}
	if err := os.Rename(partial, res.Tarball); err != nil {
		return nil, err
	}
	fi, err := os.Stat(res.Tarball)
	if err != nil {
		return nil, err
	}
	res.TarballSize = fi.Size()
	return res, nil
}

// checkBinary fails unless path is a statically linked Linux ELF executable
// for arch: on an empty base there is no dynamic loader and no libc.
func checkBinary(path, arch string) error {
	machine, ok := elfMachines[arch]
	if !ok {
		return fmt.Errorf("-arch %q: supported are amd64 and arm64", arch)
	}
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("binary %s does not exist: run `make build` first", path)
		}
		return fmt.Errorf("binary %s is not an ELF executable: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("binary %s is an ELF %s, not an executable", path, f.Type)
	}
	if f.Machine != machine {
		return fmt.Errorf("binary %s is built for %s, but the image is linux/%s", path, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("binary %s is dynamically linked and cannot run on an empty base: build it with CGO_ENABLED=0 (`make build` does)", path)
		}
	}
	return nil
}

// checkSources fails early, naming the flag's file, when an input is missing
// or is not a regular file.
func checkSources(files []layerFile, caCerts string) error {
	for _, f := range files {
		if f.src == "" {
			continue
		}
		fi, err := os.Stat(f.src)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && f.src == caCerts {
				return fmt.Errorf("CA bundle %s not found on this machine: install the ca-certificates package or pass -ca-certs", f.src)
			}
			return fmt.Errorf("%s (for %s): %w", f.src, f.dest, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s (for %s) is not a regular file", f.src, f.dest)
		}
		if fi.Size() == 0 {
			return fmt.Errorf("%s (for %s) is empty", f.src, f.dest)
		}
	}
	return nil
}

// writeLayer writes the gzip-compressed tar of files, with their parent
// directories, root-owned and stamped with mtime, sorted by path so that the
// same inputs give the same bytes. It returns the uncompressed size.
func writeLayer(path string, files []layerFile, mtime time.Time) (int64, error) {
	out, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	gz, err := gzip.NewWriterLevel(out, gzip.DefaultCompression)
	if err != nil {
		return 0, err
	}
	counted := &countingWriter{w: gz}
	tw := tar.NewWriter(counted)

	byName := map[string]layerFile{}
	dirs := map[string]bool{}
	for _, f := range files {
		rel := f.dest[1:] // tar names are relative: "etc/passwd"
		byName[rel] = f
		for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	var entries []string
	for n := range byName {
		entries = append(entries, n)
	}
	for d := range dirs {
		entries = append(entries, d)
	}
	sort.Strings(entries)

	for _, n := range entries {
		hdr := &tar.Header{Name: n, ModTime: mtime}
		f, isFile := byName[n]
		if !isFile {
			hdr.Typeflag = tar.TypeDir
			hdr.Mode = 0o755
			if err := tw.WriteHeader(hdr); err != nil {
				return 0, err
			}
			continue
		}
		if err := writeFile(tw, hdr, f); err != nil {
			return 0, fmt.Errorf("%s: %w", f.dest, err)
		}
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := gz.Close(); err != nil {
		return 0, err
	}
	return counted.n, out.Close()
}

func writeFile(tw *tar.Writer, hdr *tar.Header, f layerFile) error {
	hdr.Typeflag = tar.TypeReg
	hdr.Mode = f.mode
	if f.src == "" {
		hdr.Size = int64(len(f.data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(f.data)
		return err
	}
	in, err := os.Open(f.src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	hdr.Size = fi.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	// A file that changes size while we copy it makes tar fail the write
	// (too long) or Close (too short): never a silently truncated layer.
	_, err = io.Copy(tw, in)
	return err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// assemble puts layer on an empty base with the runtime config of the
// Dockerfile, all in OCI media types. The creation time is in the config's
// created field (the Dockerfile sets no created label either).
func assemble(layer v1.Layer, tag name.Tag, o options) (v1.Image, error) {
	labels := map[string]string{
		"org.opencontainers.image.title":       "otelcol-mesh",
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.version":     tag.TagStr(),
	}
	if o.Revision != "" {
		labels["org.opencontainers.image.revision"] = o.Revision
	}
	ports := map[string]struct{}{}
	for _, p := range exposedPorts {
		ports[p] = struct{}{}
	}
	cfg := &v1.ConfigFile{
		Architecture: o.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: o.Created},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			// PATH and WorkingDir are what `docker build` (BuildKit) puts
			// in the config of a FROM scratch image.
			Env:          []string{defaultPath},
			WorkingDir:   "/",
			Entrypoint:   []string{binaryPath},
			Cmd:          []string{"--config", configPath},
			User:         imageUser,
			ExposedPorts: ports,
			Labels:       labels,
		},
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: o.Created},
			CreatedBy: "mkimage: otelcol-mesh binary, default config, CA certificates, passwd/group",
		},
	})
}

// writeLayout writes img as the only image of a fresh OCI layout at dir.
// It replaces a previous layout there, and refuses to touch anything else.
func writeLayout(dir string, img v1.Image, tag name.Tag, arch string) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			return fmt.Errorf("%s exists and is not an OCI layout; not overwriting it", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img,
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}),
		layout.WithAnnotations(map[string]string{
			// The OCI convention (skopeo, buildkit): the tag alone; and
			// the full name that containerd and `docker load` use.
			"org.opencontainers.image.ref.name": tag.TagStr(),
			"io.containerd.image.name":          tag.String(),
		}))
}
