#!/usr/bin/env bash
# Installs code-server (pinned below) from the npm registry with the host's
# Node 20 and npm into a cache folder, and reuses it while its inputs are
# unchanged. Two users of one install:
#   - images/workspace/build-local.sh copies it into the workspace image;
#   - `npm run demo` without an engine runs it as one local process per user.
#
#   install-code-server.sh [DEST]   (prints DEST last on stdout)
#
# DEST defaults to $CODE_SERVER_CACHE, else
# ${XDG_CACHE_HOME:-~/.cache}/workspace-gateway/code-server-<version>.
#
# Native modules (node-pty, kerberos, spdlog, native-watchdog, argon2) are
# compiled against the running Node, whose headers must be installed (Debian's
# nodejs has them); Debian's ripgrep is pre-placed where @vscode/ripgrep looks
# before it would download one from GitHub, so nothing but the npm registry is
# reached. Host packages it needs: g++ make python3 libkrb5-dev ripgrep; as
# root it installs missing ones with apt-get, otherwise it names them.
#
# Reuse: DEST/.installed holds the inputs (code-server version, node version
# and binary, npm version, this script); when they match, nothing is done.
# Concurrent runs wait for each other (flock); a failed run leaves the old
# install (or none), never half of one. Progress goes to stderr, npm's output
# to the log (WORKSPACE_INSTALL_LOG, default DEST.log).
set -euo pipefail

readonly CODE_SERVER_VERSION=4.100.3

dest="${1:-${CODE_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/workspace-gateway/code-server-$CODE_SERVER_VERSION}}"
dest="$(realpath -m "$dest")"
log="${WORKSPACE_INSTALL_LOG:-$dest.log}"

say() { echo "install-code-server: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

node_bin="$(command -v node || true)"
[[ -n "$node_bin" ]] || die "node is not on PATH (Node 20 is needed)"
node_bin="$(readlink -f "$node_bin")"
node_version="$("$node_bin" --version)"
[[ "$node_version" == v20.* ]] || die "code-server $CODE_SERVER_VERSION needs Node 20; $node_bin is $node_version"
command -v npm >/dev/null || die "npm is not on PATH"
npm_version="$(npm --version)"
self="$(readlink -f "${BASH_SOURCE[0]}")"
key="$(
  {
    echo "code-server $CODE_SERVER_VERSION node $node_version npm $npm_version"
    sha256sum <"$node_bin"
    sha256sum <"$self"
  } | sha256sum | cut -c1-16
)"

installed() { [[ -f "$dest/.installed" && "$(cat "$dest/.installed")" == "$key" ]]; }
if installed; then
  say "reusing code-server $CODE_SERVER_VERSION in $dest"
  echo "$dest"
  exit 0
fi

mkdir -p "$(dirname "$dest")" || die "cannot create $(dirname "$dest")"
exec 9>"$dest.lock"
if ! flock -n 9; then
  say "another install into $dest is running; waiting for it"
  flock 9
fi
if installed; then
  say "reusing code-server $CODE_SERVER_VERSION in $dest (installed meanwhile)"
  echo "$dest"
  exit 0
fi

missing=()
for pkg in g++ make libkrb5-dev ripgrep; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
command -v python3 >/dev/null || missing+=(python3)
: >"$log" || die "cannot write the log $log"
if ((${#missing[@]})); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "installing host packages: ${missing[*]}"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } >>"$log" 2>&1 ||
      die "apt-get could not install ${missing[*]} (see $log)"
  else
    die "these Debian packages are needed to build code-server's native modules: ${missing[*]} (sudo apt-get install ${missing[*]})"
  fi
fi
rg_bin="$(command -v rg)"

# Node's headers for node-gyp (nothing can be downloaded from nodejs.org).
nodedir="${NODEDIR:-$(dirname "$(dirname "$node_bin")")}"
header="$nodedir/include/node/node_version.h"
[[ -f "$header" ]] || die "Node's headers are missing at $nodedir/include/node (set NODEDIR to the prefix that has them)"
header_version="v$(awk '/define NODE_(MAJOR|MINOR|PATCH)_VERSION/ { v = v (v == "" ? "" : ".") $3 } END { print v }' "$header")"
[[ "$header_version" == "$node_version" ]] || die "the headers in $nodedir are for Node $header_version, but node is $node_version (set NODEDIR)"

case "$(uname -m)" in
  x86_64) rg_target=x86_64-unknown-linux-musl ;;
  aarch64) rg_target=aarch64-unknown-linux-musl ;;
  *) die "no @vscode/ripgrep target is known for $(uname -m)" ;;
esac

work="$(mktemp -d "$dest.new.XXXXXX")"
trap 'rm -rf --one-file-system "$work"' EXIT
stage="$work/stage" tmp="$work/tmp" pack="$work/pack"
mkdir -p "$stage" "$tmp" "$pack"
started=$SECONDS
say "installing code-server $CODE_SERVER_VERSION from the npm registry into $dest (usually 2-4 minutes: native modules are compiled; log: $log)"

# A ticker, so a person sees the install is alive while npm compiles.
( while sleep 20; do say "still installing ($((SECONDS - started)) s)…"; done ) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true; rm -rf --one-file-system "$work"' EXIT

run() { echo "+ $*" >>"$log"; "$@" >>"$log" 2>&1; }

# Which ripgrep archive @vscode/ripgrep's postinstall wants: the package
# version (its cache folder, <tmpdir>/vscode-ripgrep-cache-<version>) comes from
# code-server's shrinkwrap; the archive's version from its postinstall.js.
run npm pack --pack-destination "$pack" "code-server@$CODE_SERVER_VERSION" || die "npm could not fetch code-server@$CODE_SERVER_VERSION from the registry (see $log)"
tar -xzf "$pack/code-server-$CODE_SERVER_VERSION.tgz" -C "$pack" package/lib/vscode/npm-shrinkwrap.json
rg_pkg_version="$(node -e 'const s = require(process.argv[1]); console.log(s.packages["node_modules/@vscode/ripgrep"].version)' "$pack/package/lib/vscode/npm-shrinkwrap.json")"
run npm pack --pack-destination "$pack" "@vscode/ripgrep@$rg_pkg_version" || die "npm could not fetch @vscode/ripgrep@$rg_pkg_version (see $log)"
tar -xzf "$pack/vscode-ripgrep-$rg_pkg_version.tgz" -C "$pack" package/lib/postinstall.js
rg_release="$(sed -n "s/^const VERSION = '\([^']*\)'.*/\1/p" "$pack/package/lib/postinstall.js")"
[[ -n "$rg_release" ]] || die "could not read the ripgrep release from @vscode/ripgrep@$rg_pkg_version"
mkdir -p "$tmp/vscode-ripgrep-cache-$rg_pkg_version" "$work/rg"
cp "$rg_bin" "$work/rg/rg"
tar -czf "$tmp/vscode-ripgrep-cache-$rg_pkg_version/ripgrep-$rg_release-$rg_target.tar.gz" -C "$work/rg" rg
echo "pre-placed Debian's rg ($("$rg_bin" --version | head -n 1)) as ripgrep-$rg_release-$rg_target for @vscode/ripgrep $rg_pkg_version" >>"$log"

# A plain (not --global) install into the staging folder: code-server's
# postinstall runs a nested `npm install` in lib/vscode, and under --global
# that nested npm inherits npm_config_global/npm_config_prefix and reinstalls
# lib/vscode over code-server itself (tar ENOENT errors; coder/code-server#7462).
# The environment is cleared of npm settings a caller (npm run, CI) may have
# left, so only these apply. TMPDIR points os.tmpdir() at the ripgrep cache.
echo '{ "name": "code-server-bundle", "private": true }' >"$stage/package.json"
say "npm install code-server@$CODE_SERVER_VERSION (compiling native modules against node $node_version)"
(
  cd "$stage"
  run env -u npm_config_global -u npm_config_prefix -u npm_config_ignore_scripts \
    TMPDIR="$tmp" \
    npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir="$nodedir" \
    npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
    npm install --omit=dev --no-save --foreground-scripts "code-server@$CODE_SERVER_VERSION"
) || die "npm install code-server@$CODE_SERVER_VERSION failed; the last lines of $log say why:$(tail -n 5 "$log" | sed 's/^/\n  | /')"
cs="$stage/node_modules/code-server"
[[ -f "$cs/out/node/entry.js" ]] || die "code-server's entry point is missing after npm install"
cmp -s "$cs/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" "$rg_bin" || die "@vscode/ripgrep did not take the pre-placed Debian rg"
for f in node-pty/build/Release/pty.node kerberos/build/Release/kerberos.node @vscode/spdlog/build/Release/spdlog.node native-watchdog/build/Release/watchdog.node; do
  [[ -f "$cs/lib/vscode/node_modules/$f" ]] || die "native module $f was not built"
done
# Compiler leftovers (objects, intermediate folders) are not needed at run time.
find "$stage" -depth -type d \( -name obj.target -o -name 'build-tmp-*' -o -name .deps \) -exec rm -rf {} +
chmod 0755 "$cs/out/node/entry.js"
echo "$key" >"$stage/.installed"

# The old install (if any) goes only once the new one is complete.
rm -rf --one-file-system "$dest"
mv "$stage" "$dest"
kill $ticker 2>/dev/null || true
say "installed code-server $CODE_SERVER_VERSION in $dest in $((SECONDS - started)) s"
echo "$dest"
