#!/usr/bin/env bash
# Debian packages the test tiers need on a fresh machine (idempotent, as root): the cluster tier's
# (test/cluster/install-deps.sh), PostgreSQL for the directory's PostgreSQL backend tests,
# Prometheus (promtool for the alert-rule tests, the server for the cluster tier's alert test), and
# python3-venv; then moto from PyPI for the directory's S3 audit-storage tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/../test/cluster/install-deps.sh"
pkgs=()
command -v promtool >/dev/null 2>&1 || pkgs+=(prometheus)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs+=(postgresql)
# python3 -m venv (for the S3 test server below) needs Debian's ensurepip package.
python3 -c 'import ensurepip' >/dev/null 2>&1 || pkgs+=(python3-venv)
if (( ${#pkgs[@]} )); then
  echo "install-test-deps.sh: installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps Debian from starting the servers these packages ship (tests start their own).
  own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  if (( own_policy )); then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "install-test-deps.sh: promtool and PostgreSQL present"
fi
bash "$here/install-s3-test-server.sh"
