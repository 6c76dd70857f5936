#!/usr/bin/env bash
# A real multi-node Docker Swarm on one machine, for tests, the benchmark and CI:
# N extra Docker engines, each in its own network namespace (and UTS namespace,
# so every node has its own hostname), wired by veth pairs to one host bridge
# and joined into one swarm (n1 the manager, the others workers). The host's own
# engine is left alone; it only builds the images the nodes load.
#
# Usage: scripts/swarm-bed.sh up | down | status | stop-node NAME | start-node NAME
# Env:   SWARM_BED_NODES   number of nodes (default 3, at least 2)
#        SWARM_BED_IMAGES  space-separated tags loaded into every node (default: the
#                          demo workspace image, also as workspace-gateway-demo:latest)
#        SWARM_BED_STATE   state file (default /run/wgswarm/bed.json, read by test/support/swarm-bed.ts)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

# Debian's client, whatever else is on PATH.
DOCKER=/usr/bin/docker
DATA=/var/lib/wgswarm # data roots (images, swarm raft state) and engine logs
RUN=/run/wgswarm      # exec roots, sockets, pid files: short paths (unix sockets allow 108 bytes)
STATE="${SWARM_BED_STATE:-$RUN/bed.json}" # test/support/swarm-bed.ts reads the same variable
BRIDGE=wgsw0
NET=192.168.213 # not 10/8 (swarm's overlay pool) nor 172.16/12 (docker's bridges)
HOST_IP="$NET.1"
NS_PREFIX=wgswarm-  # network namespace wgswarm-n1 …
VETH_PREFIX=wgsw-   # host end of node n1's veth: wgsw-n1 (the node end is eth0)
CGROUP_PREFIX=wgswarm- # each node's containers live under cgroup /wgswarm-n1
FORWARD_RULE=(FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT)
STOP_WAIT_S=20

log() { echo "swarm-bed: $*" >&2; }
die() {
  log "$*"
  exit 1
}

node_ip() { echo "$NET.$((10 + ${1#n}))"; }
node_sock() { echo "$RUN/$1.sock"; }
ndocker() {
  local name=$1
  shift
  "$DOCKER" -H "unix://$(node_sock "$name")" "$@"
}
valid_name() { [[ "$1" =~ ^n[0-9]+$ ]] && [ -d "$DATA/$1" ]; }

# A pid counts as running only if it is not a zombie (PID 1 here may not reap
# orphans) and still runs something of this bed (guards against pid reuse).
ours_alive() {
  local pid=$1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ] || return 1
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qE "$RUN/|$DATA/"
}

# SIGTERM, wait up to STOP_WAIT_S for all of them together, then SIGKILL.
stop_pids() {
  local pid left
  for pid in "$@"; do ours_alive "$pid" && kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 $((STOP_WAIT_S * 5))); do
    left=0
    for pid in "$@"; do ours_alive "$pid" && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.2
  done
  for pid in "$@"; do
    if ours_alive "$pid"; then
      log "pid $pid did not stop in ${STOP_WAIT_S}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

engine_pid() { cat "$RUN/$1.pid" 2>/dev/null || true; }
containerd_pid() { cat "$RUN/$1/containerd/containerd.pid" 2>/dev/null || true; }

# Starts one node's dockerd inside its namespaces, in the background, with
# its log in the bed folder. The same flags every time, so a restarted node
# finds its swarm state in its data root and rejoins by itself.
# - nsenter --net, not `ip netns exec`: that remounts /sys and dockerd then
#   fails with "Devices cgroup isn't mounted".
# - unshare --uts + hostname: otherwise every node reports the host's hostname.
# - DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: no registry is reachable; swarm tasks
#   use the loaded image instead of trying to pull it first.
# - --config-file: the host's /etc/docker/daemon.json (hosts, data-root…) is not for the nodes.
start_engine() {
  local name=$1
  mkdir -p "$DATA/$name" "$RUN/$name"
  DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid \
    nsenter --net="/run/netns/$NS_PREFIX$name" -- \
    unshare --uts -- \
    sh -c 'hostname "$0" && exec "$@"' "$name" \
    dockerd \
    --config-file "$RUN/daemon.json" \
    --data-root "$DATA/$name" \
    --exec-root "$RUN/$name" \
    --pidfile "$RUN/$name.pid" \
    -H "unix://$(node_sock "$name")" \
    --cgroup-parent "/$CGROUP_PREFIX$name" \
    >>"$DATA/$name.log" 2>&1 </dev/null &
}

wait_engine() {
  local name=$1
  for _ in $(seq 1 150); do
    ndocker "$name" version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "the engine of $name did not answer in 30s; last lines of $DATA/$name.log:"
  tail -20 "$DATA/$name.log" >&2 || true
  return 1
}

# Node names of the bed on disk (n1 n2 …), whatever SWARM_BED_NODES was then.
bed_nodes() {
  local d
  for d in "$DATA"/n*/; do
    [ -d "$d" ] || continue
    d=${d%/}
    echo "${d##*/}"
  done | sort -V
}

json_str() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

# bed.json from what is on disk: node ids and roles recorded at `up`, live pids.
write_state() {
  local name pid first=1 img imgs="" nodes=""
  for img in $(cat "$RUN/images" 2>/dev/null); do imgs+="${imgs:+, }$(json_str "$img")"; done
  for name in $(bed_nodes); do
    pid=$(engine_pid "$name")
    ours_alive "$pid" || pid=null
    [ -z "$first" ] && nodes+=","
    nodes+=$'\n'"    {\"name\": \"$name\", \"hostname\": \"$name\", \"ip\": \"$(node_ip "$name")\", \"socket\": \"$(node_sock "$name")\","
    nodes+=" \"nodeId\": $(json_str "$(cat "$RUN/$name.id" 2>/dev/null)"), \"role\": \"$(cat "$RUN/$name.role" 2>/dev/null)\", \"pid\": $pid}"
    first=
  done
  mkdir -p "$(dirname "$STATE")"
  cat >"$STATE.tmp" <<EOF
{
  "nodes": [$nodes
  ],
  "bridge": "$BRIDGE",
  "hostIp": "$HOST_IP",
  "images": [$imgs],
  "ipvs": $(cat "$RUN/ipvs" 2>/dev/null || echo false)
}
EOF
  mv "$STATE.tmp" "$STATE"
}

# IPVS (swarm's virtual IPs and routing mesh): a module that may need loading first.
has_ipvs() {
  command -v modprobe >/dev/null && modprobe -q ip_vs 2>/dev/null || true
  [ -e /proc/net/ip_vs ] && echo true || echo false
}

bed_mounts() { findmnt -rn -o TARGET | grep -E "^($DATA|$RUN)(/|$)" || true; }

cmd_down() {
  local name pids=() cpids=() pid mnt ns link cg
  # Engines first: a clean dockerd stop also stops its containers and its
  # containerd. Workers (together) before the manager: a worker that can still
  # tell its manager it leaves stops in ~2 s; all at once took up to 6 s.
  for name in $(bed_nodes); do [ "$name" != n1 ] && pids+=("$(engine_pid "$name")"); done
  [ ${#pids[@]} -gt 0 ] && stop_pids "${pids[@]}"
  stop_pids "$(engine_pid n1)"
  for name in $(bed_nodes); do cpids+=("$(containerd_pid "$name")"); done
  [ ${#cpids[@]} -gt 0 ] && stop_pids "${cpids[@]}"
  # After a SIGKILL, shims (and engines whose pid file is gone) outlive them;
  # they carry the bed's paths on their command line.
  pids=()
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    case "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" in
      */dockerd | */containerd | */containerd-shim*) ours_alive "$pid" && pids+=("$pid") ;;
    esac
  done
  [ ${#pids[@]} -gt 0 ] && stop_pids "${pids[@]}"
  # Whatever still runs in the nodes' cgroups is a container of the bed.
  for cg in $(find /sys/fs/cgroup -maxdepth 2 -type d -name "$CGROUP_PREFIX*" 2>/dev/null); do
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  for cg in $(find /sys/fs/cgroup -maxdepth 2 -type d -name "$CGROUP_PREFIX*" 2>/dev/null); do
    for _ in 1 2 3 4 5; do
      find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$cg" ] || break
      sleep 0.2
    done
  done
  # Overlay layers, shm, and the overlay networks' namespace bind mounts; deepest first.
  bed_mounts | sort -r | while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done
  if [ -n "$(bed_mounts)" ]; then
    die "mounts under $DATA or $RUN are left; not removing the folders"
  fi
  rm -rf "$DATA" "$RUN"
  rm -f "$STATE"
  for ns in $(ip netns list | awk -v p="^$NS_PREFIX" '$1 ~ p { print $1 }'); do
    ip netns delete "$ns" 2>/dev/null || {
      umount -l "/run/netns/$ns" 2>/dev/null || true
      rm -f "/run/netns/$ns"
    }
  done
  for link in $(ip -o link show | awk -F': ' '{ print $2 }' | cut -d@ -f1 | grep -E "^$VETH_PREFIX" || true); do
    ip link delete "$link" 2>/dev/null || true
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
  while iptables -D "${FORWARD_RULE[@]}" 2>/dev/null; do :; done
  log "down"
}

cmd_up() {
  local n=${SWARM_BED_NODES:-3} images=() name names=() ip token id
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] && [ "$n" -le 50 ] || die "SWARM_BED_NODES must be 2…50, not '$n'"
  for i in $(seq 1 "$n"); do names+=("n$i"); done
  # With a system containerd at the default address dockerd would use it instead
  # of starting its own, and all nodes would share it.
  [ -S /run/containerd/containerd.sock ] && die "a system containerd runs at /run/containerd/containerd.sock; the nodes would share it"
  "$DOCKER" info >/dev/null 2>&1 || die "the host engine does not answer; run: bash scripts/ensure-engine.sh"

  cmd_down
  mkdir -p "$DATA" "$RUN"
  echo '{}' >"$RUN/daemon.json"

  if [ -n "${SWARM_BED_IMAGES:-}" ]; then
    read -r -a images <<<"$SWARM_BED_IMAGES"
  else
    local tag
    tag=$(bash "$repo/images/demo-workspace/build-image.sh" | tail -1)
    images=("$tag" workspace-gateway-demo:latest)
  fi
  for img in "${images[@]}"; do "$DOCKER" image inspect "$img" >/dev/null 2>&1 || die "image $img is not on the host engine"; done
  printf '%s\n' "${images[@]}" >"$RUN/images"

  # The wiring: one bridge on the host, a namespace per node on a veth.
  ip link add "$BRIDGE" type bridge
  ip addr add "$HOST_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # The host engine sets FORWARD to DROP and bridged frames go through iptables (bridge netfilter).
  iptables -I "${FORWARD_RULE[@]}"
  for name in "${names[@]}"; do
    ip netns add "$NS_PREFIX$name"
    ip link add "$VETH_PREFIX$name" type veth peer name eth0 netns "$NS_PREFIX$name"
    ip link set "$VETH_PREFIX$name" master "$BRIDGE" up
    ip -n "$NS_PREFIX$name" link set lo up
    ip -n "$NS_PREFIX$name" addr add "$(node_ip "$name")/24" dev eth0
    ip -n "$NS_PREFIX$name" link set eth0 up
    ip -n "$NS_PREFIX$name" route add default via "$HOST_IP"
  done

  for name in "${names[@]}"; do start_engine "$name"; done
  for name in "${names[@]}"; do wait_engine "$name" || die "node $name did not start"; done

  # Images: saved once, loaded into every node at the same time (nodes cannot pull).
  "$DOCKER" save -o "$DATA/images.tar" "${images[@]}"
  local loads=()
  for name in "${names[@]}"; do
    ndocker "$name" load -i "$DATA/images.tar" >/dev/null &
    loads+=($!)
  done

  ip=$(node_ip n1)
  ndocker n1 swarm init --advertise-addr "$ip" --listen-addr "$ip:2377" >/dev/null
  token=$(ndocker n1 swarm join-token -q worker)
  for name in "${names[@]:1}"; do
    # Without --advertise-addr the join times out.
    ndocker "$name" swarm join --token "$token" --advertise-addr "$(node_ip "$name")" \
      --listen-addr "$(node_ip "$name"):2377" "$ip:2377" >/dev/null
  done
  # Without IPVS in the kernel (this machine kind has none) the routing mesh
  # cannot work, and its ingress network makes every worker's shutdown wait 5 s
  # for a removal that never completes: drop it. Services then need
  # --endpoint-mode dnsrr (no virtual IP either); bed.json says "ipvs": false.
  local ipvs
  ipvs=$(has_ipvs)
  [ "$ipvs" = false ] && ndocker n1 network rm ingress >/dev/null <<<y
  echo "$ipvs" >"$RUN/ipvs"
  for pid in "${loads[@]}"; do wait "$pid" || die "loading images into a node failed"; done
  rm -f "$DATA/images.tar"

  local ready=0
  for _ in $(seq 1 300); do
    ready=$(ndocker n1 node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true)
    [ "$ready" -eq "$n" ] && break
    sleep 0.2
  done
  [ "$ready" -eq "$n" ] || die "only $ready of $n nodes are Ready: $(ndocker n1 node ls 2>&1)"

  for name in "${names[@]}"; do
    id=$(ndocker "$name" info --format '{{.Swarm.NodeID}}')
    echo "$id" >"$RUN/$name.id"
    [ "$name" = n1 ] && echo manager >"$RUN/$name.role" || echo worker >"$RUN/$name.role"
    # A label as well as the hostname, to pin services: node.labels.wgswarm.node==n3.
    ndocker n1 node update --label-add "wgswarm.node=$name" "$id" >/dev/null
  done
  write_state
  log "up: $n nodes Ready (manager n1 at unix://$(node_sock n1)), images: ${images[*]}"
  ndocker n1 node ls >&2
}

cmd_stop_node() {
  local name=${1:-}
  valid_name "$name" || die "no node '$name' in the bed"
  local pid cpid
  pid=$(engine_pid "$name")
  cpid=$(containerd_pid "$name")
  ours_alive "$pid" || {
    log "$name is not running"
    return 0
  }
  stop_pids "$pid"
  # Only after a SIGKILL is its containerd still there.
  stop_pids "$cpid"
  rm -f "$RUN/$name.pid"
  write_state
  log "stopped $name"
}

cmd_start_node() {
  local name=${1:-}
  valid_name "$name" || die "no node '$name' in the bed"
  if ours_alive "$(engine_pid "$name")"; then
    log "$name is already running"
    return 0
  fi
  start_engine "$name"
  wait_engine "$name" || die "node $name did not start"
  write_state
  # Back as Ready in the manager's view (when the manager answers at all). A
  # restarted manager first sees the workers as Unknown: wait for every running one.
  if ndocker n1 node ls >/dev/null 2>&1; then
    local wait_for=("$name") other status="" pending
    if [ "$name" = n1 ]; then
      for other in $(bed_nodes); do
        [ "$other" != n1 ] && ndocker "$other" version >/dev/null 2>&1 && wait_for+=("$other")
      done
    fi
    for _ in $(seq 1 300); do
      pending=()
      for other in "${wait_for[@]}"; do
        status=$(ndocker n1 node inspect --format '{{.Status.State}}' "$(cat "$RUN/$other.id")" 2>/dev/null || true)
        [ "$status" = ready ] || pending+=("$other:${status:-?}")
      done
      [ ${#pending[@]} = 0 ] && break
      sleep 0.2
    done
    [ ${#pending[@]} = 0 ] || die "$name started but the manager does not see these Ready: ${pending[*]}"
  fi
  log "started $name"
}

cmd_status() {
  [ -f "$STATE" ] || die "no bed (no $STATE); run: bash scripts/swarm-bed.sh up"
  cat "$STATE"
  local name bad=0
  for name in $(bed_nodes); do
    ndocker "$name" version >/dev/null 2>&1 || {
      log "the engine of $name does not answer"
      bad=1
    }
  done
  return $bad
}

[ "$(id -u)" = 0 ] || die "needs root (namespaces, bridge, iptables, dockerd)"
case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  stop-node) cmd_stop_node "${2:-}" ;;
  start-node) cmd_start_node "${2:-}" ;;
  *) die "usage: $0 up | down | status | stop-node NAME | start-node NAME" ;;
esac
