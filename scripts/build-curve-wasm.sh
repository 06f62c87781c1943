#!/usr/bin/env bash
# Builds sdk/wasm/curve25519 (curve25519-dalek for the VRF hot paths) to
# sdk/wasm/dist/curve25519.wasm (gitignored; sdk/src/vrf/dalek-wasm.ts loads it, and the sdk
# falls back to libsodium without it). Idempotent: installs Debian's rustc/cargo and wasm32 std
# if missing (as root), and caches the .wasm under ~/.cache/keyfleet/curve-wasm keyed by a hash
# of the crate sources and lock, so a second run takes seconds.
# Debian's rustc 1.63 is the only wasm32 std installable offline; the crate's lock is resolved
# for it. Vendoring uses a cargo with network access to crates.io (rustup's if present, else
# Debian's), always --locked so the lock never changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
crate="$root/sdk/wasm/curve25519"
out="$root/sdk/wasm/dist/curve25519.wasm"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/keyfleet/curve-wasm"

if [[ ! -x /usr/bin/rustc || ! -x /usr/bin/cargo || ! -d /usr/lib/rustlib/wasm32-unknown-unknown ]]; then
  echo "build-curve-wasm.sh: installing rustc cargo libstd-rust-dev-wasm32"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends rustc cargo libstd-rust-dev-wasm32 >/dev/null
fi

key="$(cat "$crate/Cargo.toml" "$crate/Cargo.lock" "$crate"/src/*.rs | sha256sum | cut -c1-16)"
cached="$cache/$key.wasm"
mkdir -p "$cache" "$(dirname "$out")"
if [[ ! -f "$cached" ]]; then
  vendor="$cache/vendor-$(sha256sum < "$crate/Cargo.lock" | cut -c1-16)"
  if [[ ! -d "$vendor" ]]; then
    vcargo=/usr/bin/cargo
    [[ -x "$HOME/.cargo/bin/cargo" ]] && vcargo="$HOME/.cargo/bin/cargo"
    "$vcargo" vendor --locked --manifest-path "$crate/Cargo.toml" "$vendor.tmp" >/dev/null
    mv "$vendor.tmp" "$vendor"
  fi
  target="$cache/target"
  # Source replacement passed on the command line: the repo holds no vendored sources.
  PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc nice -n 10 /usr/bin/cargo build --release --offline --locked \
    --target wasm32-unknown-unknown --manifest-path "$crate/Cargo.toml" --target-dir "$target" \
    --config "source.crates-io.replace-with=\"vendored\"" \
    --config "source.vendored.directory=\"$vendor\""
  cp "$target/wasm32-unknown-unknown/release/keyfleet_curve25519.wasm" "$cached.tmp"
  mv "$cached.tmp" "$cached"
fi
cp "$cached" "$out.tmp" && mv "$out.tmp" "$out"
echo "build-curve-wasm.sh: $out ($(stat -c %s "$out") bytes, key $key)"
