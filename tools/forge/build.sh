#!/usr/bin/env bash
# Builds the Gitea server and Gitea's act-based runner from the Go module
# proxy into a bin directory, for the real-forge end-to-end test (e2e/).
#
#   tools/forge/build.sh gitea  BIN GITEA_VERSION PROTO_VERSION
#   tools/forge/build.sh runner BIN RUNNER_VERSION
#
# Gitea's module (path gitea.dev, served as code.gitea.io/gitea) does not
# build as it is from the proxy: three of its requirements are not served.
#  - gitea.dev/actions-proto-go: the same code is served as
#    code.gitea.io/actions-proto-go, so a replace directive stands in;
#  - gitea.dev/sdk and gitlab.com/gitlab-org/api/client-go/v2: used only by
#    the Gitea and GitLab repository importers, which are removed from a copy
#    of the module (the test never migrates a repository).
# The copy is kept beside the binary (BIN/../share/gitea): Gitea reads
# its templates and options from it (STATIC_ROOT_PATH).
set -euo pipefail

# moddir downloads a module version and prints its directory.
moddir() {
	local dir
	dir=$(go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || { echo "go mod download $1 gave no directory" >&2; exit 1; }
	echo "$dir"
}

gitea() {
	local bin=$1 version=$2 proto=$3
	local src dir
	src=$(moddir "code.gitea.io/gitea@$version")
	dir=$(cd "$bin/.." && pwd)/share/gitea
	rm -rf "$dir.tmp" && mkdir -p "$(dirname "$dir")"
	cp -r "$src" "$dir.tmp" && chmod -R u+w "$dir.tmp"
	(
		cd "$dir.tmp"
		rm -f services/migrations/gitea_downloader*.go services/migrations/gitlab*.go
		go mod edit -replace "gitea.dev/actions-proto-go=code.gitea.io/actions-proto-go@$proto" \
			-droprequire gitea.dev/sdk -droprequire gitlab.com/gitlab-org/api/client-go/v2
		GOFLAGS=-mod=mod go mod download code.gitea.io/actions-proto-go
		GOFLAGS=-mod=mod CGO_ENABLED=0 nice go build -trimpath \
			-ldflags "-s -w -X main.Version=${version#v}" -o "$bin/gitea.tmp" .
	)
	rm -rf "$dir" && mv "$dir.tmp" "$dir" && mv -f "$bin/gitea.tmp" "$bin/gitea"
}

runner() {
	local bin=$1 version=$2
	local src
	# go install pkg@version is refused: it lists the module's versions (to
	# look for a deprecation), and the proxy does not list this one. The
	# downloaded module builds as it is.
	src=$(moddir "gitea.com/gitea/runner@$version")
	(cd "$src" && CGO_ENABLED=0 nice go build -trimpath -ldflags "-s -w" -o "$bin/gitea-runner.tmp" .)
	mv -f "$bin/gitea-runner.tmp" "$bin/gitea-runner"
}

cmd=$1
shift
mkdir -p "$1"
"$cmd" "$@"
