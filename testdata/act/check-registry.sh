#!/usr/bin/env bash
# check-registry.sh IMAGE TAG DIGEST: HEAD the manifest of IMAGE:TAG in the
# registry (plain HTTP, basic auth from REGISTRY_USER / REGISTRY_KEY in the
# environment, never on a command line) and compare its digest with DIGEST.
set -euo pipefail
image=$1 tag=$2 want=$3
host=${image%%/*} repo=${image#*/}
[ -n "$want" ] || { echo "::error::check-registry: empty digest for $image:$tag (action output missing?)"; exit 1; }
accept='application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json'
got=$(printf 'user = "%s:%s"\n' "$REGISTRY_USER" "$REGISTRY_KEY" |
  curl -fsS -K - -I -H "Accept: $accept" "http://$host/v2/$repo/manifests/$tag" |
  tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}')
if [ "$got" != "$want" ]; then
  echo "::error::check-registry: $image:$tag is ${got:-missing} in the registry, the action said $want"
  exit 1
fi
echo "check-registry: $image:$tag = $got, as the action said"
