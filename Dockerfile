# syntax=docker/dockerfile:1
#
# otelcol-mesh container image, in the upstream collector-distribution layout:
# the static binary on an empty base, CA certificates, a non-root user.
#
# Build the binary first, on linux/amd64 (ocb builds for the host; the binary
# is static because `make build` sets CGO_ENABLED=0), then the image from the
# repository root:
#
#   make build
#   docker build -t otelcol-mesh:0.1.0 .
#
# Without a Docker daemon, `make image` builds the same image (same files,
# modes, owners, user, entrypoint, ports, labels; one layer instead of several)
# with tools/mkimage and writes it as an OCI layout and a `docker load` tarball
# under _image/. tools/mkimage/dockerfile_test.go parses this file and fails
# when it and mkimage disagree: change both together.
#
# Run: docker run -p 4317:4317 -p 4318:4318 -p 13133:13133 otelcol-mesh:0.1.0
# To export to Tempo instead of the debug exporter, add the shipped overlay:
#   docker run -e TEMPO_ENDPOINT=tempo-distributor:4317 otelcol-mesh:0.1.0 \
#     --config /etc/otelcol-mesh/config.yaml --config /etc/otelcol-mesh/tempo.yaml

ARG ALPINE_VERSION=3.22

# Stage 1 only provides CA certificates and the passwd/group entries for the
# non-root user; nothing from its shell or package manager reaches the image.
FROM alpine:${ALPINE_VERSION} AS certs
RUN apk add --no-cache ca-certificates \
 && mkdir /out \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\notelcol:x:10001:10001:otelcol-mesh:/:/sbin/nologin\n' > /out/passwd \
 && printf 'root:x:0:\notelcol:x:10001:\n' > /out/group

FROM scratch

ARG VERSION=0.1.0
ARG REVISION=""
LABEL org.opencontainers.image.title="otelcol-mesh" \
      org.opencontainers.image.description="OpenTelemetry Collector for Istio / ingress-nginx meshes exporting to multi-tenant Tempo" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY --from=certs --chmod=0644 /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=certs --chmod=0644 /out/passwd /etc/passwd
COPY --from=certs --chmod=0644 /out/group /etc/group
COPY --chmod=0755 _build/otelcol-mesh /otelcol-mesh
COPY --chmod=0644 distribution/config/container.yaml /etc/otelcol-mesh/config.yaml
COPY --chmod=0644 distribution/config/local-tempo.yaml /etc/otelcol-mesh/tempo.yaml

USER 10001:10001

# OTLP gRPC, OTLP HTTP, health_check, the collector's own metrics.
EXPOSE 4317 4318 13133 8888

ENTRYPOINT ["/otelcol-mesh"]
CMD ["--config", "/etc/otelcol-mesh/config.yaml"]
