#!/usr/bin/env bash
# Regenerates akd_types_pb.generated.ts from akd_types.proto. Not part of the build: the
# generated file is committed. Needs npm; installs the generator into a temporary directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund @bufbuild/buf@1.75.0 @bufbuild/protoc-gen-es@2.17.0 >/dev/null)
cat > "$tmp/buf.gen.yaml" <<YAML
version: v2
plugins:
  - local: $tmp/node_modules/.bin/protoc-gen-es
    out: $tmp/out
    opt: [target=ts]
YAML
(cd "$here" && "$tmp/node_modules/.bin/buf" generate --template "$tmp/buf.gen.yaml" .)
mv "$tmp/out/akd_types_pb.ts" "$here/akd_types_pb.generated.ts"
echo "wrote $here/akd_types_pb.generated.ts"
