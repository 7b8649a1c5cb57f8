# build-push-image: make demo, make test, make bench.
SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools
BIN := $(TOOLS)/bin
BUILDKIT_VERSION := v0.34.2
REGISTRY_VERSION := v3.1.2
REGCLIENT_VERSION := v0.11.7
ACT_VERSION := v0.2.89
STATICCHECK_VERSION := v0.8.2
COSIGN_VERSION := v3.1.3
GITEA_VERSION := v1.27.3
GITEA_PROTO_VERSION := v0.6.0
GITEA_RUNNER_VERSION := v1.0.8
RIG := $(BIN)/rig -tools $(BIN) --

.PHONY: all build dist tools rig-tools forge-tools apt-deps rootless-user shellcheck test unit lint demo bench clean

all: build

# The binary names its version and commit (build-push-image --version); the
# action runs a binary only when that commit is its own checkout's. A tree
# with local changes to what goes into the binary (scripts/action.sh has the
# same list) gets "<commit>-dirty", which no checkout matches.
COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git status --porcelain -- '*.go' ':!*_test.go' go.mod go.sum action.yml plan/action.yml 2>/dev/null | grep -q . && echo -dirty)
VERSION ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
DIST_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
# sha256sum, or shasum on macOS (same output): a release may run on a Mac.
SHA256 := $(shell command -v sha256sum >/dev/null && echo sha256sum || echo shasum -a 256)

build:
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)' -o build-push-image .

## dist: static release binaries for every runner platform + .sha256 files.
# Asset names carry the commit (build-push-image-<os>-<arch>-<commit>): the
# action asks for its own commit's asset, so a release can hold the old and
# the new binaries while the rolling v2 tag moves.
dist:
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(DIST_PLATFORMS); do \
		name=build-push-image-$${p%/*}-$${p#*/}-$(COMMIT); \
		echo "dist/$$name ($(VERSION), commit $(COMMIT))"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} go build -trimpath -buildvcs=false \
			-ldflags '$(LDFLAGS)' -o dist/$$name . ; \
		(cd dist && $(SHA256) $$name > $$name.sha256); \
	done

## tools: pinned test tools into .tools/ (idempotent, fast when cached)
tools: rig-tools $(BIN)/regctl $(BIN)/staticcheck $(BIN)/act $(BIN)/cosign $(BIN)/static/buildkitd forge-tools

# forge-tools: a Gitea server and Gitea's act-based runner for the real-forge
# test (TestForge), built from the Go module proxy by tools/forge/build.sh,
# which says what it works around. The Gitea build takes minutes, once.
forge-tools: $(BIN)/gitea $(BIN)/gitea-runner

# rig-tools: what the rig (registry + buildkitd) needs; enough for bench.
rig-tools: apt-deps $(BIN)/buildkitd $(BIN)/registry $(BIN)/rig

# Debian packages: runc runs buildkitd's RUN steps, busybox-static is the
# test base image, skopeo is the benchmark's baseline, docker.io is the
# Docker daemon the BuildKit-container tests start (e2e/docker_test.go),
# rootlesskit and uidmap (newuidmap) run buildkitd rootless
# (e2e/rootless_test.go), zstd reads zstd layers and makes the zstd
# archives of the archive tests (e2e/archive*_test.go), xz-utils unpacks
# the real zot .ci/run hands the zot tests (../shared/tools/zot), pigz is
# how nix's buildLayeredImage compresses (the bench's stream cases),
# Debian's python3 runs the bench's nix-like stream program (bench/nixstream.py).
apt-deps:
	@missing=""; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	test -x /bin/busybox || missing="$$missing busybox-static"; \
	command -v skopeo >/dev/null || missing="$$missing skopeo"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v dockerd >/dev/null || missing="$$missing docker.io"; \
	command -v zstd >/dev/null || missing="$$missing zstd"; \
	command -v xz >/dev/null || missing="$$missing xz-utils"; \
	command -v pigz >/dev/null || missing="$$missing pigz"; \
	test -x /usr/bin/python3 || missing="$$missing python3"; \
	command -v rootlesskit >/dev/null || missing="$$missing rootlesskit"; \
	command -v newuidmap >/dev/null || missing="$$missing uidmap"; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# rootless-user: the user that is not root the rootless test runs the action
# as (e2e/rootless_test.go names it), with subordinate IDs for rootlesskit
# (useradd gives them; added by hand where it did not). Idempotent.
ROOTLESS_USER := bpi-rootless
rootless-user: apt-deps
	@id -u $(ROOTLESS_USER) >/dev/null 2>&1 || useradd --create-home --shell /bin/sh $(ROOTLESS_USER)
	@grep -q '^$(ROOTLESS_USER):' /etc/subuid || usermod --add-subuids 1000000-1065535 $(ROOTLESS_USER)
	@grep -q '^$(ROOTLESS_USER):' /etc/subgid || usermod --add-subgids 1000000-1065535 $(ROOTLESS_USER)

BUILDKIT_BUILD := go build -trimpath -ldflags "-s -w -X github.com/moby/buildkit/version.Version=$(BUILDKIT_VERSION)"
BUILDKIT_CMDS := github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl

# buildkit's go.mod has exclude directives, so `go install pkg@version` is
# refused: it is built as a tool of its own small module (tools/buildkit).
$(BIN)/buildkitd: tools/buildkit/go.mod tools/buildkit/go.sum
	@mkdir -p $(BIN)
	cd tools/buildkit && $(BUILDKIT_BUILD) -o $(BIN)/ $(BUILDKIT_CMDS)

# Static buildkitd and buildctl for the BuildKit image the Docker tests make
# with docker import (no Docker Hub here): nothing to load in the image.
$(BIN)/static/buildkitd: tools/buildkit/go.mod tools/buildkit/go.sum
	@mkdir -p $(BIN)/static
	cd tools/buildkit && CGO_ENABLED=0 $(BUILDKIT_BUILD) -o $(BIN)/static/ $(BUILDKIT_CMDS)

$(BIN)/registry:
	GOBIN=$(BIN) go install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)

$(BIN)/regctl:
	GOBIN=$(BIN) go install github.com/regclient/regclient/cmd/regctl@$(REGCLIENT_VERSION)

# cosign: the only verifier of the signatures the action writes
# (e2e/signing_test.go), as a cluster's admission check would run it.
$(BIN)/cosign:
	GOBIN=$(BIN) go install github.com/sigstore/cosign/v3/cmd/cosign@$(COSIGN_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/act:
	GOBIN=$(BIN) go install github.com/nektos/act@$(ACT_VERSION)

$(BIN)/gitea:
	tools/forge/build.sh gitea $(BIN) $(GITEA_VERSION) $(GITEA_PROTO_VERSION)

$(BIN)/gitea-runner:
	tools/forge/build.sh runner $(BIN) $(GITEA_RUNNER_VERSION)

$(BIN)/rig: $(wildcard internal/testrig/*.go internal/testrig/cmd/rig/*.go) go.mod
	go build -o $@ ./internal/testrig/cmd/rig

# shellcheck: the one Debian package lint needs (CI's lint job has no rig).
shellcheck:
	@command -v shellcheck >/dev/null || { echo "apt-get install shellcheck"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }

lint: shellcheck $(BIN)/staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	@# make dist builds for darwin too: every package and its tests must
	@# type-check there (e2e drives runc, buildkitd and dockerd: Linux only).
	GOOS=darwin GOARCH=arm64 go vet $$(GOOS=darwin GOARCH=arm64 go list ./... | grep -v '/e2e$$')
	$(BIN)/staticcheck ./...
	shellcheck $$(git ls-files '*.sh')

## test: install tools, start a registry and buildkitd, run every test
test: tools rootless-user lint
	$(RIG) go test -count=1 -timeout 30m ./...

## demo: build testdata/hello, push v1.0.0 + SHA, show the second run refused
demo: rig-tools $(BIN)/regctl
	$(RIG) ./scripts/demo.sh

## bench: side-by-side benchmarks (see docs/benchmarks.md)
bench: rig-tools
	$(RIG) go run ./bench

clean:
	rm -rf $(TOOLS) build-push-image dist
