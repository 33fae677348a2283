# otelcol-mesh build, run and test entry points. Needs only Go: every tool is
# built from tools/go.mod through the Go module proxy into .tools/.

GO          ?= go
TOOLS_DIR   := $(CURDIR)/.tools
OCB         := $(TOOLS_DIR)/ocb
STATICCHECK := $(TOOLS_DIR)/staticcheck
BINARY      := $(CURDIR)/_build/otelcol-mesh
LOCAL_CONFIG := distribution/config/local.yaml
# Fuzz budget per target inside `make test`: a count of inputs, not a
# duration. With a duration, Go 1.26's fuzz coordinator can report its own
# deadline as a failure when a worker is mid-input as time runs out
# (golang/go#75804, fixed in Go 1.27), which failed make test once with no
# crasher. 100000 inputs take 3-20 s per target here. `make fuzz
# FUZZTIME=5m` digs deeper (a duration, with that risk).
FUZZTIME    ?= 100000x
# `make bench BENCHFLAGS=-quick` for a 2-minute run; `cd testbed && go run ./cmd/meshbench -h` lists every knob.
BENCHFLAGS  ?=

# Our components, one module each (as upstream's), and the module of the
# package they share. The repository root has no go.mod: the testbed is a
# module of its own too.
COMPONENT_MODULES := internal processor/spannormalizerprocessor processor/tenantroutingprocessor extension/tenantheaderextension exporter/tenantlanesexporter
# Every module `make lint` goes through; `make unit` skips the testbed, whose
# tests need the binary and run in `make e2e`.
MODULES := $(COMPONENT_MODULES) tools deploy/validate testbed

# Our component sources: a change to any of them rebuilds the binary.
COMPONENT_SOURCES := $(shell find processor extension exporter internal -name '*.go' ! -name '*_test.go' 2>/dev/null) \
  $(foreach m,$(COMPONENT_MODULES),$(m)/go.mod $(m)/go.sum)

.PHONY: all build run validate test unit e2e deploy-check fuzz lint bench image clean tools

all: lint test

tools: $(OCB) $(STATICCHECK)

$(OCB): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(OCB) go.opentelemetry.io/collector/cmd/builder

$(STATICCHECK): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck

build: $(BINARY)

# CGO off: a static binary that runs on the image's minimal base.
$(BINARY): $(OCB) builder-config.yaml $(COMPONENT_SOURCES)
	CGO_ENABLED=0 $(OCB) --config builder-config.yaml
	@touch $(BINARY)

# Exports to the debug exporter, or to $TEMPO_ENDPOINT (OTLP gRPC) when set.
run: $(BINARY)
	$(BINARY) --config $(LOCAL_CONFIG) $(if $(TEMPO_ENDPOINT),--config distribution/config/local-tempo.yaml)

validate: $(BINARY)
	$(BINARY) validate --config $(LOCAL_CONFIG)
	TEMPO_ENDPOINT=localhost:4317 $(BINARY) validate --config $(LOCAL_CONFIG) --config distribution/config/local-tempo.yaml

# Unit tests, the end-to-end tests against the ocb-built binary, the offline
# validation of deploy/ (with that binary), then a bounded fuzz run.
test: unit e2e deploy-check fuzz

unit:
	@set -e; for m in $(COMPONENT_MODULES) tools; do echo "unit $$m"; (cd $$m && $(GO) test -race -count=1 ./...); done

e2e: $(BINARY)
	cd testbed && OTELCOL_MESH_BIN=$(BINARY) $(GO) test -race -count=1 ./...

# deploy/validate is its own module: kustomize and the schema validator stay
# out of the module that ocb builds the binary from.
deploy-check: $(BINARY)
	cd deploy/validate && OTELCOL_MESH_BIN=$(BINARY) $(GO) test -race -count=1 ./...

fuzz:
	@set -e; for m in $(COMPONENT_MODULES) testbed; do \
	  for pkg in $$(cd $$m && $(GO) list ./...); do \
	    dir=$$(cd $$m && $(GO) list -f '{{.Dir}}' $$pkg); \
	    for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	      echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	      (cd $$m && $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg); \
	    done; \
	  done; \
	done

# The project stands alone: no code, test or doc may reach the team's shared/
# folder that sits beside some checkouts (the bracket keeps this line from
# matching itself).
lint: $(STATICCHECK)
	@if git grep -n --untracked -I -E '\.\./shar[e]d|shar[e]d/(fixtures|schemas)'; then \
	  echo "the lines above reach outside the repository: copy what they need into it"; exit 1; fi
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "lint $$m"; (cd $$m && $(GO) vet ./... && $(STATICCHECK) ./...); done
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) mod tidy -diff >/dev/null) || { echo "go.mod/go.sum of $$m are not tidy: run go mod tidy there"; exit 1; }; done

bench: $(BINARY)
	cd testbed && OTELCOL_MESH_BIN=$(BINARY) $(GO) run ./cmd/meshbench $(BENCHFLAGS)

IMAGE_TAG ?= otelcol-mesh:$(shell sed -n 's/^  version: *//p' builder-config.yaml)

# An OCI layout in _image/oci and a `docker load` tarball, without a daemon.
image: $(BINARY)
	cd tools && SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
	  $(GO) run ./mkimage -binary $(BINARY) \
	  -config $(CURDIR)/distribution/config/container.yaml \
	  -tempo-config $(CURDIR)/distribution/config/local-tempo.yaml \
	  -out $(CURDIR)/_image -tag $(IMAGE_TAG) \
	  -revision "$$(git rev-parse HEAD 2>/dev/null)"

clean:
	rm -rf _build .tools _image testbed/results
