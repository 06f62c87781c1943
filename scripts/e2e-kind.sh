#!/usr/bin/env bash
# npm run e2e:kind — the cluster test suite on a kind cluster, wherever Docker runs (not on our own
# machines, which have no Docker engine: there the same suite runs on the local cluster harness).
# Creates the cluster from kind-config.yaml, builds and loads the three images, installs the chart,
# runs the suite against it, and deletes the cluster (KEEP_CLUSTER=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--help" ]]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  echo "needs: docker (with a running engine), kind >= 0.30, kubectl, helm 3.18"
  exit 0
fi

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "e2e:kind needs $tool on PATH" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "e2e:kind needs a running Docker engine (docker info failed)" >&2; exit 2; }

cluster=keyfleet
version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cleanup() { [[ "${KEEP_CLUSTER:-0}" == 1 ]] || kind delete cluster --name "$cluster"; }
trap cleanup EXIT

echo "== creating kind cluster '$cluster' (1 control plane, 7 zone workers)"
kind create cluster --name "$cluster" --config kind-config.yaml --wait 120s

for component in operator vault-node directory-node; do
  image="ghcr.io/keyfleet/${component}:${version}"
  echo "== building $image"
  docker build --build-arg COMPONENT="$component" --build-arg VERSION="$version" --build-arg REVISION="$revision" -t "$image" .
  kind load docker-image "$image" --name "$cluster"
done

echo "== installing the chart"
helm install keyfleet charts/keyfleet --namespace keyfleet-system --create-namespace \
  --set operator.image.tag="$version" --set operator.image.pullPolicy=Never --wait --timeout 5m

echo "== running the cluster suite against kind"
KEYFLEET_CLUSTER=external KUBECONFIG="$(mktemp)" bash -c \
  'kind get kubeconfig --name '"$cluster"' > "$KUBECONFIG" && npm run test:cluster'
