#!/usr/bin/env bash
# make demo: run by the test rig (registry + buildkitd started, addresses in
# the environment). Builds testdata/hello, pushes v1.0.0 + the SHA tag, then
# shows the same version refused.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
go build -o .tools/bin/build-push-image . || exit 1
export INPUT_API_KEY="$BPI_TEST_KEY" # environment only: never on a command line
image="$BPI_TEST_REGISTRY/demo/hello"
sha=$(git rev-parse HEAD 2>/dev/null || echo 0123456789abcdef0123456789abcdef01234567)
run() {
  .tools/bin/build-push-image --image "$image" --version v1.0.0 --sha "$sha" \
    --context testdata/hello --username "$BPI_TEST_USER" --registry-tls disabled
}

echo "== 1. first run: build testdata/hello, push $image:v1.0.0 and :$sha"
run || { echo "demo: the first push failed"; exit 1; }
echo
echo "== what the registry now holds (checked with regctl, an independent client)"
export REGCTL_CONFIG="$BPI_TEST_RIG_DIR/regctl.json"
"$BPI_TEST_TOOLS/regctl" registry set "$BPI_TEST_REGISTRY" --tls disabled >/dev/null 2>&1
printf '%s' "$BPI_TEST_KEY" | "$BPI_TEST_TOOLS/regctl" registry login "$BPI_TEST_REGISTRY" -u "$BPI_TEST_USER" --pass-stdin >/dev/null 2>&1
for tag in v1.0.0 "$sha"; do
  echo "$image:$tag -> $("$BPI_TEST_TOOLS/regctl" image digest "$image:$tag")"
done
echo
echo "== 2. second run with the same version: refused before any build step"
if run; then
  echo "demo: the second run was not refused"; exit 1
fi
echo
echo "demo: pushed v1.0.0 once; the second push of v1.0.0 was refused, as it must be."
