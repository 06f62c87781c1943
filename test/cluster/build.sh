#!/usr/bin/env bash
# Builds (once per machine) the real binaries the cluster tier runs, from their Go modules:
#   kube-apiserver kube-controller-manager kube-scheduler kubectl kube-proxy  (k8s.io/kubernetes, bin/go.mod)
#   etcd                                                                      (go.etcd.io/etcd/server/v3, bin/etcd/go.mod)
#   coredns                                                                   (github.com/coredns/coredns, bin/coredns/: minimal plugin set)
#   helm                                                                      (go install helm.sh/helm/v3/cmd/helm@<ver>)
# Each lands in ${KEYFLEET_BIN_CACHE:-${XDG_CACHE_HOME:-~/.cache}/keyfleet/bin}/<component>-<version>/<component>
# and is skipped when already there. Per-component wall time is appended to build-times.tsv there.
#
# Usage: test/cluster/build.sh [component ...]     (default: all)
# Env:   KEYFLEET_BUILD_JOBS (default 2 -> GOFLAGS=-p=2), KEYFLEET_BUILD_NICE (default 10)
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${KEYFLEET_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyfleet/bin}"
jobs="${KEYFLEET_BUILD_JOBS:-2}"
niceness="${KEYFLEET_BUILD_NICE:-10}"
mkdir -p "$cache"
times="$cache/build-times.tsv"
# One build at a time per machine (two checkouts may share the cache).
exec 9>"$cache/.build.lock"
flock 9

export CGO_ENABLED=0
export GOFLAGS="-buildvcs=false -p=$jobs"
export GOTOOLCHAIN=local

command -v go >/dev/null || { echo "build.sh: go is not on PATH" >&2; exit 1; }

# The wrapper modules must pin what versions.env says.
grep -q "k8s.io/kubernetes $K8S_VERSION" "$here/bin/go.mod" || { echo "bin/go.mod does not require k8s.io/kubernetes $K8S_VERSION" >&2; exit 1; }
if grep -E '=> k8s.io/[a-z-]+ v' "$here/bin/go.mod" | grep -vq " $K8S_STAGING_VERSION\$"; then
  echo "bin/go.mod has a staging replace not at $K8S_STAGING_VERSION" >&2; exit 1
fi
grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$here/bin/etcd/go.mod" || { echo "bin/etcd/go.mod does not require etcd $ETCD_VERSION" >&2; exit 1; }
grep -q "github.com/coredns/coredns $COREDNS_VERSION" "$here/bin/coredns/go.mod" || { echo "bin/coredns/go.mod does not require coredns $COREDNS_VERSION" >&2; exit 1; }

ts() { date +%s; }
t_all=$(ts)
built=0

# run_go <component> <log> <go args...>: runs go under nice, prints a progress line every 25 packages.
run_go() {
  local comp="$1" log="$2"; shift 2
  local n=0 start; start=$(ts)
  set +e
  nice -n "$niceness" go "$1" -v "${@:2}" 2>&1 | tee "$log" | while IFS= read -r line; do
    case "$line" in
      *" "*|"#"*) ;; # not a package line
      *) n=$((n + 1)); if (( n % 25 == 0 )); then printf '  %s: %d packages compiled (%ds)\n' "$comp" "$n" $(( $(ts) - start )); fi ;;
    esac
  done
  local rc=${PIPESTATUS[0]}
  set -e
  if (( rc != 0 )); then echo "build.sh: $comp failed (rc $rc); last lines of $log:" >&2; tail -30 "$log" >&2; exit "$rc"; fi
}

# component <name> <version> <builder function>
component() {
  local name="$1" ver="$2" fn="$3"
  local dest="$cache/$name-$ver"
  if [[ -x "$dest/$name" ]]; then
    echo "[cached] $name $ver -> $dest/$name"
    return
  fi
  echo "[build ] $name $ver ..."
  local tmp="$dest.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"
  local t0; t0=$(ts)
  "$fn" "$tmp" "$ver"
  local dt=$(( $(ts) - t0 ))
  printf '%s\t%s\t%s\t%ds\tjobs=%s\t%s\n' "$(date -u +%FT%TZ)" "$name" "$ver" "$dt" "$jobs" "$(go env GOVERSION)" >>"$times"
  rm -rf "$dest"; mv "$tmp" "$dest"
  echo "[done  ] $name $ver in ${dt}s -> $dest/$name"
  built=$((built + 1))
}

k8s_ldflags() {
  local v="$K8S_VERSION" major minor
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitCommit=module-$v -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  echo "-s -w$f"
}

build_k8s_cmd() { # <tmp> <ver> ; uses $cmd
  local tmp="$1"
  (cd "$here/bin" && run_go "$cmd" "$tmp/build.log" build -trimpath -ldflags "$(k8s_ldflags)" -o "$tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd")
}
b_apiserver() { cmd=kube-apiserver build_k8s_cmd "$@"; }
b_kcm() { cmd=kube-controller-manager build_k8s_cmd "$@"; }
b_scheduler() { cmd=kube-scheduler build_k8s_cmd "$@"; }
b_kubectl() { cmd=kubectl build_k8s_cmd "$@"; }
b_proxy() { cmd=kube-proxy build_k8s_cmd "$@"; }
b_etcd() {
  local tmp="$1"
  (cd "$here/bin/etcd" && run_go etcd "$tmp/build.log" build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_VERSION" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
}
b_coredns() {
  local tmp="$1"
  (cd "$here/bin/coredns" && run_go coredns "$tmp/build.log" build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=module-$COREDNS_VERSION" -o "$tmp/coredns" .)
}
b_helm() {
  local tmp="$1"
  local mm="${HELM_VERSION%.*}"
  GOBIN="$tmp" run_go helm "$tmp/build.log" install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitCommit=module-$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  : "$mm"
}

all=(kube-apiserver kube-controller-manager kube-scheduler kubectl kube-proxy etcd coredns helm)
want=("$@"); (( ${#want[@]} )) || want=("${all[@]}")
i=0
for c in "${want[@]}"; do
  i=$((i + 1)); printf '(%d/%d) ' "$i" "${#want[@]}"
  case "$c" in
    kube-apiserver) component kube-apiserver "$K8S_VERSION" b_apiserver ;;
    kube-controller-manager) component kube-controller-manager "$K8S_VERSION" b_kcm ;;
    kube-scheduler) component kube-scheduler "$K8S_VERSION" b_scheduler ;;
    kubectl) component kubectl "$K8S_VERSION" b_kubectl ;;
    kube-proxy) component kube-proxy "$K8S_VERSION" b_proxy ;;
    etcd) component etcd "$ETCD_VERSION" b_etcd ;;
    coredns) component coredns "$COREDNS_VERSION" b_coredns ;;
    helm) component helm "$HELM_VERSION" b_helm ;;
    *) echo "unknown component $c (known: ${all[*]})" >&2; exit 2 ;;
  esac
done
echo "build.sh: ${built} built, $(( ${#want[@]} - built )) cached, $(( $(ts) - t_all ))s total; binaries under $cache"
