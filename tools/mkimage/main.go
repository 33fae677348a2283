// Command mkimage builds the otelcol-mesh container image without a Docker
// daemon or a registry: `make image` runs it on the binary that `make build`
// produced.
//
// The image is the one the repository's Dockerfile describes, with the same
// files in one layer on an empty base (FROM scratch); dockerfile_test.go
// checks that the two agree:
//
//	/otelcol-mesh                        the static collector binary, 0755
//	/etc/otelcol-mesh/config.yaml        default config (distribution/config/container.yaml)
//	/etc/otelcol-mesh/tempo.yaml         Tempo overlay (distribution/config/local-tempo.yaml)
//	/etc/ssl/certs/ca-certificates.crt   CA bundle of the build machine
//	/etc/passwd, /etc/group              root and the non-root user 10001:10001
//
// It writes two forms of the same image under -out:
//
//	oci/                an OCI image layout (index.json, blobs/sha256/...)
//	otelcol-mesh.tar    a tarball for `docker load -i`
//
// Timestamps come from SOURCE_DATE_EPOCH (default 0), so the same inputs give
// the same image digest.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	opts := defaultOptions()
	fs.StringVar(&opts.Binary, "binary", opts.Binary, "static otelcol-mesh binary to put at /otelcol-mesh")
	fs.StringVar(&opts.Config, "config", opts.Config, "collector config to put at "+configPath)
	fs.StringVar(&opts.TempoConfig, "tempo-config", opts.TempoConfig, "Tempo overlay config to put at "+tempoConfigPath+" (empty: none)")
	fs.StringVar(&opts.CACerts, "ca-certs", opts.CACerts, "CA bundle to put at "+caCertsPath)
	fs.StringVar(&opts.OutDir, "out", opts.OutDir, "output directory (OCI layout in <out>/oci, docker tarball in <out>/otelcol-mesh.tar)")
	fs.StringVar(&opts.Tag, "tag", opts.Tag, "image reference written into the layout and the tarball")
	fs.StringVar(&opts.Arch, "arch", opts.Arch, "image architecture (linux only); the binary must match it")
	fs.StringVar(&opts.Revision, "revision", opts.Revision, "source revision for the org.opencontainers.image.revision label (empty: no label)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	opts.Created = created

	res, err := build(opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "image     %s (linux/%s)\n", opts.Tag, opts.Arch)
	fmt.Fprintf(stdout, "digest    %s\n", res.Digest)
	fmt.Fprintf(stdout, "layer     %s (%d bytes compressed, %d bytes uncompressed)\n", res.LayerDigest, res.LayerSize, res.LayerUncompressedSize)
	fmt.Fprintf(stdout, "layout    %s\n", res.LayoutDir)
	fmt.Fprintf(stdout, "tarball   %s (%d bytes) - load with: docker load -i %s\n", res.Tarball, res.TarballSize, res.Tarball)
	return nil
}

// sourceDateEpoch parses SOURCE_DATE_EPOCH (reproducible-builds.org); unset
// means the Unix epoch, as ko and Bazel do.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}
