#!/usr/bin/env bash
# Adds npm dependencies while other sessions share this work tree: serialises npm and git,
# and commits the manifests together with the lock file so the lock never runs ahead of them.
# usage: scripts/dev/add-dep.sh [-D] -w <workspace> pkg@range ...
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
exec 9>/tmp/keyfleet-npm.lock
flock 9
npm install "$@"
exec 8>/tmp/keyfleet-git.lock
flock 8
git add package.json package-lock.json */package.json
KEYFLEET_SHARED_TREE_OK=1 git commit -m "deps: npm install $*" -- package.json package-lock.json */package.json
