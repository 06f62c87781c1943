#!/usr/bin/env bash
# Debian packages the cluster tier needs on a fresh machine (idempotent): ip (iproute2), nft and
# iptables (kube-proxy's nftables mode, the harness's containment/fault table), conntrack,
# openssl (the PKI), unshare/nsenter/mount (util-linux), curl (used inside pods by the tests). Go itself must already be there.
set -euo pipefail
pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || pkgs+=("$2"); }
need ip iproute2
need nft nftables
need iptables iptables
need conntrack conntrack
need openssl openssl
need unshare util-linux
need mount mount
need curl curl
if (( ${#pkgs[@]} )); then
  echo "install-deps.sh: installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
else
  echo "install-deps.sh: ip nft iptables conntrack openssl unshare mount all present"
fi
command -v go >/dev/null || { echo "install-deps.sh: go is not installed (the cold build needs Go >= 1.24)" >&2; exit 1; }
