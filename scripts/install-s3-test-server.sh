#!/usr/bin/env bash
# The S3-compatible server the directory's S3 audit-storage tests run against: moto in server
# mode, from PyPI, in a venv under ~/.cache/keyfleet/moto (idempotent: a venv whose moto server
# already imports is left alone). Tests find it at $KEYFLEET_MOTO_PYTHON or in that venv.
set -euo pipefail
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
venv="${KEYFLEET_MOTO_VENV:-${HOME}/.cache/keyfleet/moto}"
py="$venv/bin/python3"
if [[ -x "$py" ]] && "$py" -c 'import moto.server, flask' >/dev/null 2>&1; then
  echo "install-s3-test-server.sh: moto server present in $venv"
  exit 0
fi
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$py" -m pip install --quiet --disable-pip-version-check \
  "moto[server]==${MOTO_VERSION}"
"$py" -c 'import moto.server, flask' # fails the script if the install is unusable
echo "install-s3-test-server.sh: moto[server] ${MOTO_VERSION} installed in $venv"
