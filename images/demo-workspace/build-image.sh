#!/usr/bin/env bash
# Builds the demo workspace image (a stand-in for code-server) without any
# registry: a root filesystem holding the host's own `node` binary and the
# shared libraries it links, plus server.mjs and `ws`, imported with
# `docker import`. The image is tagged by a hash of its inputs, so a second run
# with unchanged inputs reuses it in well under a second.
#
# Usage: images/demo-workspace/build-image.sh   (prints the image tag last)
# Env:   DOCKER (client binary, default /usr/bin/docker)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
docker="${DOCKER:-/usr/bin/docker}"
repository="workspace-gateway-demo"

node_bin="$(readlink -f "$(command -v node)")"
ws_dir="$repo/node_modules/ws"
[[ -f "$ws_dir/package.json" ]] || { echo "build-image: $ws_dir is missing; run npm ci first" >&2; exit 1; }
ws_version="$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$ws_dir/package.json" | head -1)"

# Hashing the node binary itself (not only its version) catches a rebuilt node
# with the same version string; it costs a fraction of a second. Contents are
# read from stdin so the way the script was invoked does not change the hash.
hash="$(
  {
    echo "node $("$node_bin" --version) $node_bin"
    sha256sum <"$node_bin"
    sha256sum <"$here/server.mjs"
    echo "ws $ws_version"
    sha256sum <"${BASH_SOURCE[0]}"
  } | sha256sum | cut -c1-12
)"
tag="$repository:$hash"

if "$docker" image inspect "$tag" >/dev/null 2>&1; then
  echo "reusing $tag" >&2
  "$docker" tag "$tag" "$repository:latest"
  echo "$tag"
  exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/wg-demo-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{usr/local/bin,opt/demo/node_modules,etc,home/coder/project,tmp}

cp -L "$node_bin" "$root/usr/local/bin/node"
# Every library at the path the loader will look for it (copied, not linked,
# since the targets of host symlinks do not exist in the image). The loader
# line has no "=>", so its path is the first field.
while read -r lib; do
  [[ -n "$lib" && -e "$lib" ]] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done < <(ldd "$node_bin" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }')

cp "$here/server.mjs" "$root/opt/demo/server.mjs"
cp -R "$ws_dir" "$root/opt/demo/node_modules/ws"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
coder:x:1000:1000:coder:/home/coder:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
coder:x:1000:
EOF
chmod 1777 "$root/tmp"
chmod -R u+rwX,go+rX,go-w "$root/opt" "$root/usr" "$root/etc"
chmod 0755 "$root/home/coder" "$root/home/coder/project"

# Ownership is set in the archive rather than on disk, so the script needs no
# chown rights and files copied from the host do not carry the host's owners:
# everything is root's except the coder's home.
tar --numeric-owner --owner=0 --group=0 --exclude=./home/coder -C "$root" -cf "$work/rootfs.tar" .
tar --numeric-owner --owner=1000 --group=1000 -C "$root" -rf "$work/rootfs.tar" ./home/coder

"$docker" import \
  --change 'USER 1000:1000' \
  --change 'ENV HOME=/home/coder PORT=8080 PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'WORKDIR /home/coder/project' \
  --change 'CMD ["/usr/local/bin/node","/opt/demo/server.mjs"]' \
  --change "LABEL workspace-gateway.demo-hash=$hash" \
  - "$tag" <"$work/rootfs.tar" >/dev/null
"$docker" tag "$tag" "$repository:latest"
echo "built $tag" >&2
echo "$tag"
