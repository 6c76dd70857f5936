#!/usr/bin/env bash
# Builds the code-server workspace image on a machine that cannot reach any
# container registry (CI here), as an equivalent of images/workspace/Dockerfile:
#
#   1. code-server@4.100.3 is installed with the host's Node 20 and npm by
#      install-code-server.sh into its cache folder (native modules compiled
#      against that same Node, Debian's ripgrep pre-placed), the same install
#      `npm run demo` runs as local processes without an engine, so one
#      install serves both and is reused while its inputs are unchanged;
#   2. a minimal Debian bookworm root filesystem is made with debootstrap from
#      the Debian mirror this machine's apt already uses;
#   3. the host's `node` (and npm) and the staged code-server go into it, with
#      the user `coder` (1000:1000) and /home/coder/project;
#   4. the tree is streamed into `docker import` with the Dockerfile's runtime
#      settings (USER, ENV, WORKDIR, ENTRYPOINT/CMD, EXPOSE, HEALTHCHECK);
#   5. the image is started once on a throw-away network, the way the gateway
#      starts workspaces (all capabilities dropped, no-new-privileges, uid
#      1000, no published port), and must answer /healthz and the workbench
#      page, load its native modules and turn healthy. Only then is it tagged
#      apra-nova-code-server:latest.
#
# The seed's teaching toolset (JDK, Python libraries, compilers) is left out of
# this local image on purpose: the gateway and the browser tests need the
# editor, a shell and git, not 1 GB of toolchains. The production image
# (images/workspace/Dockerfile) carries the full toolset.
#
# Reuse: the image is tagged apra-nova-code-server:local-<hash of the inputs>
# (this script, the code-server version, the node binary, npm's version). When
# that tag exists the build is skipped (under a second) and :latest is pointed
# at it; --force rebuilds. Debian packages are not part of the hash: use
# --force to pick up security updates.
#
# Output: progress on stderr, full build output in the log file, and the image
# tag alone on the last line of stdout.
#
# Needs root (debootstrap, chroot, file ownership), Node 20 with its headers,
# and apt-get for missing host packages (debootstrap here; libkrb5-dev, ripgrep,
# g++, make, python3), which it installs.
set -euo pipefail

readonly CODE_SERVER_VERSION=4.100.3
readonly SUITE=bookworm
# bash, coreutils, grep, sed, tar, gzip, findutils, passwd, libpcre2 (for rg)
# and libstdc++ (for node) come with the minbase variant already.
readonly PACKAGES=ca-certificates,curl,dumb-init,git,less,libgssapi-krb5-2,libkrb5-3,nano,openssh-client,procps
readonly REPOSITORY=apra-nova-code-server
readonly TEST_LABEL=workspace-gateway.test=codeserver-build
readonly CMD_JSON='["code-server","--bind-addr","0.0.0.0:8080","--auth","none","--disable-telemetry","--disable-update-check","/home/coder/project"]'

docker="${DOCKER:-/usr/bin/docker}"
workdir_base="${WORKSPACE_IMAGE_WORKDIR:-/var/tmp}"
log="${WORKSPACE_IMAGE_BUILD_LOG:-/var/tmp/$REPOSITORY-build.log}"
mirror="${DEBIAN_MIRROR:-}"
force=false keep=false verify=true verbose=false prune_old=true

usage() {
  cat <<EOF
Usage: $0 [options]
Builds $REPOSITORY:latest (and :local-<hash>) without a registry; prints the tag last.

  --workdir DIR   where the temporary build folder is made (default $workdir_base; needs ~2 GB)
  --log FILE      build output (default $log)
  --mirror URL    Debian mirror for debootstrap (default: the one in /etc/apt/sources*)
  --force         rebuild even when an image for the current inputs exists
  --keep          keep the build folder (for debugging)
  --no-verify     skip the test run of the new image
  --no-prune      keep older $REPOSITORY:local-* images
  --verbose       also show the build output on stderr
  -h, --help      this text

Environment: DOCKER (client, default /usr/bin/docker), NODEDIR (Node headers prefix),
WORKSPACE_IMAGE_WORKDIR, WORKSPACE_IMAGE_BUILD_LOG, DEBIAN_MIRROR.
EOF
}

while (($#)); do
  case "$1" in
    --workdir) workdir_base="${2:?--workdir needs a folder}"; shift ;;
    --workdir=*) workdir_base="${1#*=}" ;;
    --log) log="${2:?--log needs a file}"; shift ;;
    --log=*) log="${1#*=}" ;;
    --mirror) mirror="${2:?--mirror needs a URL}"; shift ;;
    --mirror=*) mirror="${1#*=}" ;;
    --force) force=true ;;
    --keep) keep=true ;;
    --no-verify) verify=false ;;
    --no-prune) prune_old=false ;;
    --verbose | -v) verbose=true ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build-local: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "build-local: $*" >&2; }
building=false
die() {
  say "error: $*"
  if $building; then
    say "last lines of $log:"
    tail -n 30 "$log" | sed 's/^/  | /' >&2
  fi
  exit 1
}

# Runs a command with its output in the log (and on stderr with --verbose).
run() {
  echo "+ $*" >>"$log"
  if $verbose; then
    "$@" 2>&1 | tee -a "$log" >&2
  else
    "$@" >>"$log" 2>&1
  fi
}

# --- inputs and the reuse check --------------------------------------------

node_bin="$(command -v node || true)"
[[ -n "$node_bin" ]] || die "node is not on PATH (Node 20 is needed)"
node_bin="$(readlink -f "$node_bin")"
node_version="$("$node_bin" --version)"
[[ "$node_version" == v20.* ]] || die "code-server $CODE_SERVER_VERSION needs Node 20; $node_bin is $node_version"
npm_bin="$(command -v npm || true)"
[[ -n "$npm_bin" ]] || die "npm is not on PATH"
npm_version="$(npm --version)"
"$docker" version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "the Docker Engine is not reachable with $docker"

self="$(readlink -f "${BASH_SOURCE[0]}")"
here="$(dirname "$self")"
# Contents come from stdin so the way the script was called does not matter.
hash="$(
  {
    echo "code-server $CODE_SERVER_VERSION suite $SUITE packages $PACKAGES"
    echo "node $node_version"
    sha256sum <"$node_bin"
    echo "npm $npm_version"
    sha256sum <"$self"
    sha256sum <"$here/install-code-server.sh"
  } | sha256sum | cut -c1-12
)"
tag="$REPOSITORY:local-$hash"

if ! $force && "$docker" image inspect "$tag" >/dev/null 2>&1; then
  "$docker" tag "$tag" "$REPOSITORY:latest"
  say "reusing $tag (inputs unchanged; --force rebuilds)"
  echo "$tag"
  exit 0
fi

# --- host preparation --------------------------------------------------------

[[ "$(id -u)" == 0 ]] || die "building needs root (debootstrap, chroot, file ownership); the reuse check above does not"
mkdir -p "$(dirname "$log")"
: >"$log"
say "building $tag (code-server $CODE_SERVER_VERSION, node $node_version, Debian $SUITE); log: $log"
started=$SECONDS
building=true

step="start"
on_error() {
  say "failed during: $step (exit $1). Last lines of $log:"
  tail -n 40 "$log" | sed 's/^/  | /' >&2
}
trap 'on_error $?' ERR

step="host packages"
missing=()
for pkg in debootstrap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing host packages: ${missing[*]}"
  command -v apt-get >/dev/null || die "apt-get is missing; install ${missing[*]} by hand"
  run apt-get update
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
# The Debian mirror this machine's apt uses (deb822 .sources or one-line
# .list entries for the suite itself, not -security/-updates).
if [[ -z "$mirror" ]]; then
  shopt -s nullglob
  mirror="$(
    {
      for f in /etc/apt/sources.list.d/*.sources; do
        awk -v suite="$SUITE" '
          function flush() { if (uris != "" && (" " suites " ") ~ (" " suite " ")) { split(uris, u, " "); print u[1] } uris = ""; suites = "" }
          /^[[:space:]]*$/ { flush(); next }
          /^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
          /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
          END { flush() }' "$f"
      done
      for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2 }'
      done
    } | grep -E '^https?://' | head -n 1 || true
  )"
  shopt -u nullglob
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

# --- work folder -------------------------------------------------------------

mkdir -p "$workdir_base"
work="$(mktemp -d "$workdir_base/$REPOSITORY-build.XXXXXX")"
root="$work/rootfs"
test_name="wg-codeserver-build-$hash-$$"
cleanup() {
  "$docker" rm -f "$test_name" >/dev/null 2>&1 || true
  "$docker" network rm "$test_name" >/dev/null 2>&1 || true
  # debootstrap mounts /proc and /sys inside the tree while it works; never
  # delete through a mount that a failed run left behind.
  awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  if $keep; then
    say "kept the build folder $work"
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT

# --- 1. code-server with npm on the host's Node 20 ---------------------------

step="code-server $CODE_SERVER_VERSION from npm (install-code-server.sh)"
# Its own progress goes to stderr; a cached install (the demo's too) is reused.
stage="$(bash "$here/install-code-server.sh")" || die "install-code-server.sh could not install code-server $CODE_SERVER_VERSION"
[[ -f "$stage/node_modules/code-server/out/node/entry.js" ]] || die "code-server's entry point is missing in $stage"
staged_version="$(node -p 'require(process.argv[1]).version' "$stage/node_modules/code-server/package.json")"
[[ "$staged_version" == "$CODE_SERVER_VERSION" ]] || die "install-code-server.sh installed code-server $staged_version, this script pins $CODE_SERVER_VERSION"

# --- 2. a minimal Debian root filesystem ------------------------------------

step="debootstrap $SUITE"
say "debootstrap $SUITE (minbase + ${PACKAGES//,/ }) from $mirror"
run debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$mirror"

# --- 3. node, npm, code-server, the user -------------------------------------

step="assembling the image"
say "assembling the root filesystem"
install -m 0755 "$node_bin" "$root/usr/local/bin/node"
npm_dir="$(dirname "$(dirname "$(readlink -f "$npm_bin")")")" # .../node_modules/npm
if [[ -f "$npm_dir/package.json" ]]; then
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
fi
cp -a "$stage" "$root/usr/local/lib/code-server"
rm -f "$root/usr/local/lib/code-server/.installed"
ln -s ../lib/code-server/node_modules/code-server/out/node/entry.js "$root/usr/local/bin/code-server"
chmod 0755 "$root/usr/local/lib/code-server/node_modules/code-server/out/node/entry.js"

run chroot "$root" groupadd --gid 1000 coder
run chroot "$root" useradd --uid 1000 --gid 1000 --create-home --home-dir /home/coder --shell /bin/bash coder
mkdir -p "$root/home/coder/project"
chown -R 1000:1000 "$root/home/coder"

# Every binary must find its libraries in the new tree (Windows/musl variants
# of optional modules ship in the packages but never load on glibc Linux).
unresolved="$(
  cd "$root"
  find usr/local/bin/node usr/local/lib/code-server -type f \( -name node -o -name '*.node' -o -name rg \) \
    -not -name '*win32*' -not -name '*windows*' -not -name 'winregistry.node' -not -path '*musl*' |
    while read -r f; do chroot "$root" ldd "/$f" 2>&1 | sed -n "s|^|/$f: |; /not found/p"; done
)"
[[ -z "$unresolved" ]] || die "libraries missing in the image: $unresolved"

# What a throw-away runtime image does not need.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
  "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/root/.npm
# The engine provides these per container; the host's must not leak in.
rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
: >"$root/etc/hosts"

# --- 4. docker import --------------------------------------------------------

step="docker import"
say "importing into Docker"
tar --numeric-owner -C "$root" -cf - . | run "$docker" import \
  --change 'USER coder' \
  --change 'ENV HOME=/home/coder USER=coder SHELL=/bin/bash LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /home/coder/project' \
  --change 'EXPOSE 8080' \
  --change 'ENTRYPOINT ["/usr/bin/dumb-init","--"]' \
  --change "CMD $CMD_JSON" \
  --change 'HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1' \
  --change "LABEL org.opencontainers.image.title=$REPOSITORY org.opencontainers.image.version=$CODE_SERVER_VERSION workspace-gateway.image-hash=$hash workspace-gateway.image-build=local" \
  - "$tag"

# --- 5. test run -------------------------------------------------------------

if $verify; then
  step="test run"
  say "test run: /healthz, the workbench page, native modules, healthcheck"
  run "$docker" network create --label "$TEST_LABEL" -o com.docker.network.bridge.enable_icc=false "$test_name"
  # As the gateway starts workspaces: no capabilities, no privilege gain, uid
  # 1000, limits, no published port. A shorter health interval to see it work.
  run "$docker" run -d --rm --name "$test_name" --label "$TEST_LABEL" --network "$test_name" \
    --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges:true \
    --memory 2g --pids-limit 512 --health-interval 2s --health-start-period 60s "$tag"
  ip="$("$docker" inspect -f "{{ (index .NetworkSettings.Networks \"$test_name\").IPAddress }}" "$test_name")"
  health=""
  for _ in $(seq 1 120); do
    health="$(curl -fsS -m 2 "http://$ip:8080/healthz" 2>/dev/null || true)"
    [[ -n "$health" ]] && break
    sleep 0.5
  done
  echo "GET /healthz: $health" >>"$log"
  [[ "$health" == *'"status"'* ]] || { "$docker" logs "$test_name" >>"$log" 2>&1 || true; die "code-server did not answer /healthz at $ip:8080 within 60 s"; }
  page="$(curl -fsS -m 20 -L "http://$ip:8080/")"
  [[ "$page" == *workbench* ]] || die "GET / did not lead to the VS Code workbench page"
  run "$docker" exec "$test_name" node -e '
    const base = "/usr/local/lib/code-server/node_modules/code-server/lib/vscode/node_modules/";
    for (const m of ["node-pty", "@vscode/spdlog", "kerberos", "native-watchdog", "@parcel/watcher"]) require(base + m);
    require("/usr/local/lib/code-server/node_modules/argon2");
    console.log("native modules load");'
  # shellcheck disable=SC2016 # expanded by the container's shell
  run "$docker" exec "$test_name" bash -c 'id; echo "HOME=$HOME SHELL=$SHELL"; touch "$HOME/project/.write-test" && rm "$HOME/project/.write-test"; git --version; code-server --version'
  state=""
  for _ in $(seq 1 60); do
    state="$("$docker" inspect -f '{{.State.Health.Status}}' "$test_name")"
    [[ "$state" == healthy ]] && break
    sleep 1
  done
  [[ "$state" == healthy ]] || die "the image's HEALTHCHECK did not report healthy (state: $state)"
  "$docker" rm -f "$test_name" >/dev/null 2>&1 || true
  "$docker" network rm "$test_name" >/dev/null 2>&1 || true
fi

# --- done --------------------------------------------------------------------

step="tagging"
"$docker" tag "$tag" "$REPOSITORY:latest"
if $prune_old; then
  # Older local builds (an image still used by a container stays).
  "$docker" image ls "$REPOSITORY" --format '{{.Repository}}:{{.Tag}}' | { grep -E ":local-[0-9a-f]+$" || true; } | { grep -vxF "$tag" || true; } |
    while read -r old; do "$docker" image rm "$old" >>"$log" 2>&1 || true; done
fi
trap - ERR
size="$("$docker" image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
say "built $tag ($size) in $((SECONDS - started)) s; also tagged $REPOSITORY:latest"
echo "$tag"
