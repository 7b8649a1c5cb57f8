#!/usr/bin/env bash
# The action's step (action.yml runs it in one line, so the runner echoes one
# line): find or make the build-push-image binary for this checkout of the
# action, then run it.
#
#   1. the tool cache, when the cached binary names this checkout's commit;
#   2. the release asset of this commit, from the action's own origin, with
#      its sha256 checked and its commit checked;
#   3. go build from the action's own sources.
#
# Everything comes from the environment (action.yml maps it): inputs are data,
# never code, and the key reaches the program as INPUT_API-KEY, never in argv.
# Finding the binary runs in a child of this script whose environment has no
# INPUT_* nor ACTIONS_ID_TOKEN_REQUEST_TOKEN (so no curl, git or go process
# ever holds the key or the job's ID token request); only the program gets
# them. BPI_TOKEN (the job token) is sent only to the forge it
# belongs to, and neither the program nor any other process gets it.
set -euo pipefail

if [ "${1:-}" != --find ]; then
	# The INPUT_* names (only names on env's command line, never values).
	# Neither `env -0` (older macOS env lacks it) nor bash's `compgen -e`
	# (bash 4 and later leave out names that are no shell identifiers, such
	# as INPUT_API-KEY) lists them all: awk's ENVIRON does, in every awk.
	no_inputs=(-u ACTIONS_ID_TOKEN_REQUEST_TOKEN)
	while IFS= read -r name; do
		no_inputs+=(-u "$name")
	done < <(awk 'BEGIN { for (k in ENVIRON) if (k ~ /^INPUT_/) print k }')
	# The finder prints the binary's path on fd 3, its log on stdout. It
	# runs with this same bash ($BASH), not whichever bash is on PATH.
	exec 4>&1
	bin=$(env ${no_inputs[@]+"${no_inputs[@]}"} "$BASH" "${BASH_SOURCE[0]}" --find 3>&1 1>&4 4>&-) || exit
	unset BPI_TOKEN
	exec "$bin" "$@" 4>&-
fi

say() { echo "build-push-image: $*"; }
fail() {
	echo "::error::build-push-image: $*"
	exit 1
}

token=${BPI_TOKEN:-}
unset BPI_TOKEN # a plain shell variable from here on: not exported to children

action_path=${BPI_ACTION_PATH:-${GITHUB_ACTION_PATH:-}}
if [ -z "$action_path" ] || [ ! -d "$action_path" ]; then
	fail "cannot find the action's directory (github.action_path is empty)"
fi
action_path=$(cd "$action_path" && pwd -P)

os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac

# What the binary is built from: the files that go into it (the same list
# as the Makefile's, which marks a binary built from changed files -dirty).
sources=('*.go' ':!*_test.go' go.mod go.sum action.yml plan/action.yml)

# sha256sum, or shasum on macOS (same output).
sha256=(sha256sum)
command -v sha256sum >/dev/null || sha256=(shasum -a 256)

# hash_sources names a checkout that has no clean commit.
hash_sources() {
	(cd "$action_path" && find . \( -path './.*' -o -name testdata \) -prune -o -type f \
		\( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum -o -name action.yml \) -print |
		LC_ALL=C sort | tr '\n' '\0' | xargs -0 "${sha256[@]}" | "${sha256[@]}" | cut -c1-40)
}

# agit is git in the action's checkout. The runner may have cloned it as
# another user than the job's: git would call that dubious ownership and
# refuse, so the checkout (whose owner could change this script anyway) is
# marked safe for these commands alone.
agit() { git -c safe.directory="$action_path" -C "$action_path" "$@"; }

# want is the identity a binary must carry (its --version commit) to be run:
# the action's commit when it is a clean git checkout, else a hash of its
# sources (then only a binary built here from these sources matches).
want="" why="" commit=""
if command -v git >/dev/null && top=$(agit rev-parse --show-toplevel 2>/dev/null) &&
	[ "$(cd "$top" && pwd -P)" = "$action_path" ] && commit=$(agit rev-parse --verify -q HEAD 2>/dev/null); then
	if [ -z "$(agit status --porcelain -- "${sources[@]}" 2>/dev/null)" ]; then
		want=$commit why="commit $commit"
	else
		want="src-$(hash_sources)" why="commit $commit with local changes, source hash ${want#src-}"
		commit=""
	fi
else
	want="src-$(hash_sources)" why="not a git checkout, source hash ${want#src-}"
fi

cache_root=${RUNNER_TOOL_CACHE:-}
[ -n "$cache_root" ] || cache_root=${XDG_CACHE_HOME:-$HOME/.cache}
cache_dir="$cache_root/build-push-image/$want/$os-$arch"
bin="$cache_dir/build-push-image"
mkdir -p "$cache_dir"

# binary_commit FILE prints the commit FILE says it was built from. It runs
# with an empty environment (no key, no token for a binary not yet trusted),
# and without fd 3, which the step waits on.
binary_commit() {
	local limit=""
	command -v timeout >/dev/null && limit="timeout 60"
	# shellcheck disable=SC2086 # $limit is empty or two words
	env -i PATH="$PATH" $limit "$1" --version 2>/dev/null 3>&- | sed -n 's/^build-push-image .* commit \([^ ]*\)$/\1/p' | head -n 1
}

tmp=""
# run_binary hands the binary to the step (fd 3) and ends the finder, which
# releases the cache lock: the image build must not hold it.
run_binary() {
	[ -z "$tmp" ] || rm -f "$tmp" "$tmp.sha256"
	echo "$bin" >&3
	exit 0
}

# try_cached WHAT runs the cached binary when it names this checkout, or
# says in one line why not.
try_cached() {
	[ -x "$bin" ] || return 0
	local got
	got=$(binary_commit "$bin")
	if [ "$got" = "$want" ]; then
		say "binary: cached $bin${1:+, $1} ($why)"
		run_binary
	fi
	[ -z "$refused" ] || return 0 # said so already, before the lock
	refused=yes
	say "binary: not running cached $bin: it was built from commit ${got:-unknown}, this action is at $want; fetching or building again"
}
refused=""

try_cached ""

# Two jobs starting at once (a matrix) take turns; the loser then finds the
# winner's binary. Every write is a temp file + mv, so a reader never sees
# half a binary even without flock.
if command -v flock >/dev/null; then
	exec 9>"$cache_dir/.lock"
	if ! flock -w 900 9; then
		say "binary: cache lock $cache_dir/.lock still held after 900 s; going on without it"
	fi
	try_cached "made by a concurrent job"
fi
tmp=$(mktemp "$cache_dir/.tmp.XXXXXX")
trap 'rm -f "$tmp" "$tmp.sha256"' EXIT

# origin URL prints scheme://host:port of an http(s) URL, lowercased, with
# the default port made explicit, so two spellings of one forge compare equal.
origin() {
	local rest scheme hostport
	scheme=$(printf '%s' "${1%%://*}" | tr '[:upper:]' '[:lower:]')
	rest=${1#*://}
	hostport=${rest%%/*}
	hostport=${hostport##*@}
	hostport=$(printf '%s' "$hostport" | tr '[:upper:]' '[:lower:]')
	case "$hostport" in
	\[*\]:* | [!\[]*:*) ;;
	*) hostport="$hostport:$([ "$scheme" = https ] && echo 443 || echo 80)" ;;
	esac
	printf '%s://%s' "$scheme" "$hostport"
}

# download_base prints where the action's releases are: its checkout's git
# remote when that is an http(s) URL (the forge it was cloned from, also
# when used by full URL), else github.server_url + github.action_repository.
download_base() {
	local remote
	remote=$(agit remote get-url origin 2>/dev/null) || remote=""
	case "$remote" in
	http://* | https://*)
		# Without credentials a runner may have put into the URL, and .git.
		remote=$(printf '%s' "$remote" | sed -E 's#^(https?://)[^/@]*@#\1#; s#/+$##; s#\.git$##')
		printf '%s' "$remote"
		return
		;;
	esac
	[ -n "${BPI_SERVER_URL:-}" ] && [ -n "${BPI_ACTION_REPOSITORY:-}" ] || return 1
	printf '%s/%s' "${BPI_SERVER_URL%/}" "$BPI_ACTION_REPOSITORY"
}

# fetch URL FILE downloads URL, with the job token only when URL is on the
# token's own forge (github.server_url). The token goes to curl on stdin,
# never in argv; curl does not forward it when a redirect leaves the host.
fetch() {
	local auth=""
	if [ -n "$token" ] && [ -n "${BPI_SERVER_URL:-}" ] && [ "$(origin "$1")" = "$(origin "$BPI_SERVER_URL")" ]; then
		auth=$(printf 'header = "Authorization: token %s"' "$token")
	fi
	printf '%s\n' "$auth" | curl -fsSL -K - --proto '=http,https' --proto-redir '=http,https' \
		--connect-timeout 10 --max-time 300 --retry 2 -o "$2" "$1" 2>&1
}

# (2) the release asset of this commit, from the action's own origin.
skip=""
if [ "${BUILD_PUSH_IMAGE_DOWNLOAD:-true}" = "false" ]; then
	skip="BUILD_PUSH_IMAGE_DOWNLOAD=false"
elif [ -z "${BPI_ACTION_REF:-}" ]; then
	skip="local action (uses: ./), no release to download"
elif [ -z "$commit" ]; then
	skip="the action's checkout has no clean git commit to check a release binary against ($why)"
elif ! base=$(download_base); then
	skip="no http(s) git remote in the action's checkout, and github.server_url or github.action_repository is empty"
elif ! command -v curl >/dev/null; then
	skip="curl not installed"
elif ! command -v sha256sum >/dev/null && ! command -v shasum >/dev/null; then
	skip="neither sha256sum nor shasum installed"
fi
if [ -z "$skip" ]; then
	url="$base/releases/download/$BPI_ACTION_REF/build-push-image-$os-$arch-$commit"
	if ! err=$(fetch "$url" "$tmp"); then
		say "binary: download of $url failed (${err//$'\n'/ }); building from source"
	elif ! err=$(fetch "$url.sha256" "$tmp.sha256"); then
		say "binary: download of $url.sha256 failed (${err//$'\n'/ }); building from source"
	else
		sum=$(awk 'NR==1 {print $1}' "$tmp.sha256")
		got=$("${sha256[@]}" "$tmp" | awk '{print $1}')
		if [ -z "$sum" ] || [ "$sum" != "$got" ]; then
			say "binary: sha256 of $url is $got, but $url.sha256 says ${sum:-nothing}; discarded, building from source"
		else
			chmod 0755 "$tmp"
			built=$(binary_commit "$tmp")
			if [ "$built" = "$want" ]; then
				mv -f "$tmp" "$bin"
				say "binary: downloaded $url (sha256 $got and commit verified) into $bin"
				run_binary
			fi
			say "binary: downloaded $url was built from commit ${built:-unknown}, this action is at $want; discarded, building from source"
		fi
	fi
else
	say "binary: download skipped: $skip"
fi

# (3) build from the action's own sources, stamped with what it was built from.
command -v go >/dev/null || fail "no cached or released binary for $os-$arch at $want, and no Go toolchain to build one: use the action at a release tag whose release has build-push-image-$os-$arch-$want (e.g. @v2), or install Go (e.g. actions/setup-go with go-version-file: $action_path/go.mod) before this step"
start=$(date +%s)
(cd "$action_path" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.commit=$want -X main.version=${BPI_ACTION_REF:-local}" -o "$tmp" .) ||
	fail "go build in $action_path failed; see the log above"
chmod 0755 "$tmp" && mv -f "$tmp" "$bin"
say "binary: built from source with $(go env GOVERSION) in $(($(date +%s) - start)) s into $bin ($why)"
run_binary
