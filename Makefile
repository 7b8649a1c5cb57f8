# build-push-image: make demo, make test, make bench.
SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools
BIN := $(TOOLS)/bin
BUILDKIT_VERSION := v0.34.2
REGISTRY_VERSION := v3.1.2
REGCLIENT_VERSION := v0.11.7
ACT_VERSION := v0.2.89
STATICCHECK_VERSION := v0.8.2
RIG := $(BIN)/rig -tools $(BIN) --

.PHONY: all build tools rig-tools apt-deps test unit lint demo bench clean

all: build

build:
	go build -trimpath -o build-push-image .

## tools: pinned test tools into .tools/ (idempotent, fast when cached)
tools: rig-tools $(BIN)/regctl $(BIN)/staticcheck $(BIN)/act

# rig-tools: what the rig (registry + buildkitd) needs; enough for bench.
rig-tools: apt-deps $(BIN)/buildkitd $(BIN)/registry $(BIN)/rig

# Debian packages: runc runs buildkitd's RUN steps, busybox-static is the
# test base image, skopeo is the benchmark's baseline.
apt-deps:
	@missing=""; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	test -x /bin/busybox || missing="$$missing busybox-static"; \
	command -v skopeo >/dev/null || missing="$$missing skopeo"; \
	command -v git >/dev/null || missing="$$missing git"; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# buildkit's go.mod has exclude directives, so `go install pkg@version` is
# refused: it is built as a tool of its own small module (tools/buildkit).
$(BIN)/buildkitd: tools/buildkit/go.mod tools/buildkit/go.sum
	@mkdir -p $(BIN)
	cd tools/buildkit && go build -trimpath \
		-ldflags "-s -w -X github.com/moby/buildkit/version.Version=$(BUILDKIT_VERSION)" \
		-o $(BIN)/ github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl

$(BIN)/registry:
	GOBIN=$(BIN) go install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)

$(BIN)/regctl:
	GOBIN=$(BIN) go install github.com/regclient/regclient/cmd/regctl@$(REGCLIENT_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/act:
	GOBIN=$(BIN) go install github.com/nektos/act@$(ACT_VERSION)

$(BIN)/rig: $(wildcard internal/testrig/*.go internal/testrig/cmd/rig/*.go) go.mod
	go build -o $@ ./internal/testrig/cmd/rig

lint: $(BIN)/staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	$(BIN)/staticcheck ./...

## test: install tools, start a registry and buildkitd, run every test
test: tools lint
	$(RIG) go test -count=1 -timeout 30m ./...

## demo: build testdata/hello, push v1.0.0 + SHA, show the second run refused
demo: rig-tools $(BIN)/regctl
	$(RIG) ./scripts/demo.sh

## bench: side-by-side benchmarks (see docs/benchmarks.md)
bench: rig-tools
	$(RIG) go run ./bench

clean:
	rm -rf $(TOOLS) build-push-image
