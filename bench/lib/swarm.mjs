// The engine part on the swarm runtime: a spawn storm, cold start and wake on
// the multi-node swarm test bed (scripts/swarm-bed.sh). Workspaces there are
// reachable only over per-user overlay networks, which only containers join,
// so the gateway runs as production runs it: in a container on the manager,
// with the manager's engine socket, its port published on the manager's
// address (the port of test/support/swarm-gateway.ts). Everything is labelled
// with a per-run instance id and removed by that label on every node at the
// end, also when the bench fails or is interrupted.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { DOCKER_CLI, httpCall, pageLoadUntilReady, signToken, stats } from './engine.mjs';
import { GATEWAY_PROCESS_ENV, REPO } from './targets.mjs';
import { median, nowMs, onExit, run, sleep } from './util.mjs';

export const SWARM_BED_STATE = process.env.SWARM_BED_STATE ?? '/run/wgswarm/bed.json';
const INSTANCE_LABEL = 'workspace-gateway.instance';
const MANAGED_LABEL = 'workspace-gateway.managed';
const USER_LABEL = 'workspace-gateway.user';
/** What the gateway listens on inside its container. */
const GATEWAY_PORT = 8080;

/** The bed as `swarm-bed.sh up` left it, or undefined with the reason. */
export function readSwarmBed() {
  let state;
  try {
    state = JSON.parse(readFileSync(SWARM_BED_STATE, 'utf8'));
  } catch (err) {
    return { reason: `no swarm test bed (${SWARM_BED_STATE}: ${err.code ?? err.message}); bash scripts/swarm-bed.sh up makes one` };
  }
  const nodes = Array.isArray(state?.nodes) ? state.nodes : [];
  const manager = nodes.find((n) => n.role === 'manager') ?? nodes[0];
  if (!manager?.socket || !manager.ip || !state.images?.[0]) return { reason: `${SWARM_BED_STATE} is not a swarm bed state` };
  return { bed: { ...state, nodes, manager } };
}

/** Whether the bed's manager answers within 5 s and is a swarm manager; `{ ok, reason, version }`. */
export async function swarmAnswers(bed) {
  try {
    const docker = new Docker({ socketPath: bed.manager.socket, timeout: 5000 });
    const info = await docker.info();
    if (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable)
      return { ok: false, reason: `the engine at ${bed.manager.socket} is not a swarm manager (state ${info.Swarm?.LocalNodeState})` };
    return { ok: true, version: info.ServerVersion, nodes: bed.nodes.length };
  } catch (err) {
    return { ok: false, reason: `the swarm bed's manager at ${bed.manager.socket} did not answer (${err.message})` };
  }
}

const clients = new Map();
const dockerOn = (node) => {
  if (!clients.has(node.socket)) clients.set(node.socket, new Docker({ socketPath: node.socket, timeout: 60_000 }));
  return clients.get(node.socket);
};
const cli = (node, args, timeoutMs = 60_000) => run(DOCKER_CLI, ['-H', `unix://${node.socket}`, ...args], { timeoutMs });

/** Docker's timestamps carry nanoseconds; Date.parse wants at most milliseconds. */
const wallOf = (stamp) => {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(stamp ?? '');
  return m ? Date.parse(`${m[1]}${(m[2] ?? '.0').slice(0, 4)}Z`) : NaN;
};

async function inBatches(items, size, fn) {
  for (let i = 0; i < items.length; i += size) await Promise.allSettled(items.slice(i, i + size).map(fn));
}

const gatewayName = (instance) => `${instance}_gateway`;

/** Every object of the instance left on the bed: services (manager), containers and volumes (each node), networks (manager). */
async function leftovers(bed, instance) {
  const filters = { label: [`${INSTANCE_LABEL}=${instance}`] };
  const manager = dockerOn(bed.manager);
  const left = { services: 0, containers: 0, networks: 0, volumes: 0 };
  left.services = (await manager.listServices({ filters })).length;
  left.networks = (await manager.listNetworks({ filters })).length;
  for (const node of bed.nodes) {
    const docker = dockerOn(node);
    left.containers += (await docker.listContainers({ all: true, filters }).catch(() => [])).length;
    left.volumes += ((await docker.listVolumes({ filters }).catch(() => ({}))).Volumes ?? []).length;
  }
  return left;
}

/**
 * Removes the instance's services (manager), then its containers on every
 * node (the gateway's, files containers, tasks' that linger), then networks
 * (freed a moment after their last task and the gateway left) and volumes
 * (freed once no container uses them), retried for up to `waitMs`.
 */
async function cleanup(bed, instance, waitMs = 40_000) {
  const filters = { label: [`${INSTANCE_LABEL}=${instance}`] };
  const manager = dockerOn(bed.manager);
  // The gateway first, or it goes on creating services (a storm in flight) after they were listed.
  await manager
    .getContainer(gatewayName(instance))
    .remove({ force: true })
    .catch(() => undefined);
  await inBatches(await manager.listServices({ filters }), 8, (s) => manager.getService(s.ID).remove());
  for (const node of bed.nodes) {
    const docker = dockerOn(node);
    const containers = await docker.listContainers({ all: true, filters }).catch(() => []);
    await inBatches(containers, 8, (c) => docker.getContainer(c.Id).remove({ force: true, v: true }));
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    const networks = await manager.listNetworks({ filters });
    await inBatches(networks, 4, (n) => manager.getNetwork(n.Id).remove());
    let volumes = 0;
    for (const node of bed.nodes) {
      const docker = dockerOn(node);
      const found = (await docker.listVolumes({ filters }).catch(() => ({}))).Volumes ?? [];
      volumes += found.length;
      await inBatches(found, 8, (v) => docker.getVolume(v.Name).remove({ force: true }));
    }
    if ((networks.length === 0 && volumes === 0) || Date.now() > deadline) break;
    await sleep(500);
  }
  return leftovers(bed, instance);
}

/** The same with the distribution's client, synchronous: runs from the process 'exit' hook. */
function cleanupSync(bed, instance) {
  const filter = `label=${INSTANCE_LABEL}=${instance}`;
  const cliSync = (node, args) => {
    try {
      return execFileSync(DOCKER_CLI, ['-H', `unix://${node.socket}`, ...args], {
        encoding: 'utf8',
        timeout: 60_000,
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .split('\n')
        .filter(Boolean);
    } catch {
      return [];
    }
  };
  // The gateway first, or it goes on creating services (a storm in flight) after they were listed.
  cliSync(bed.manager, ['rm', '-f', gatewayName(instance)]);
  const services = cliSync(bed.manager, ['service', 'ls', '-q', '--filter', filter]);
  if (services.length) cliSync(bed.manager, ['service', 'rm', ...services]);
  for (const node of bed.nodes) {
    const ids = cliSync(node, ['ps', '-aq', '--filter', filter]);
    if (ids.length) cliSync(node, ['rm', '-f', '-v', ...ids]);
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let round = 0; round < 30; round++) {
    const networks = cliSync(bed.manager, ['network', 'ls', '-q', '--filter', filter]);
    if (networks.length) cliSync(bed.manager, ['network', 'rm', ...networks]);
    let volumes = 0;
    for (const node of bed.nodes) {
      const found = cliSync(node, ['volume', 'ls', '-q', '--filter', filter]);
      volumes += found.length;
      if (found.length) cliSync(node, ['volume', 'rm', '-f', ...found]);
    }
    if (networks.length === 0 && volumes === 0) return;
    Atomics.wait(pause, 0, 0, 500);
  }
}

/** The instance's services and, per service, its current task (the newest; swarm keeps some history). */
async function servicesAndTasks(bed, instance) {
  const manager = dockerOn(bed.manager);
  const services = await manager.listServices({ filters: { label: [`${INSTANCE_LABEL}=${instance}`] } });
  const tasks = [];
  for (let i = 0; i < services.length; i += 50) {
    tasks.push(...(await manager.listTasks({ filters: { service: services.slice(i, i + 50).map((s) => s.ID) } })));
  }
  const current = new Map();
  for (const t of tasks) {
    const seen = current.get(t.ServiceID);
    if (!seen || (t.CreatedAt ?? '') > (seen.CreatedAt ?? '')) current.set(t.ServiceID, t);
  }
  return { services, current };
}

/** Wall-clock ms when the demo server in the task's container last printed "listening" (engine log timestamps, on the task's node). */
async function editorListeningAt(bed, task) {
  const node = bed.nodes.find((n) => n.nodeId === task?.NodeID);
  const container = task?.Status?.ContainerStatus?.ContainerID;
  if (!node || !container) return NaN;
  try {
    const raw = await dockerOn(node).getContainer(container).logs({ stdout: true, stderr: true, timestamps: true });
    const text = Buffer.isBuffer(raw) ? raw.toString('latin1') : String(raw);
    const stamps = [...text.matchAll(/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) [^\n]*listening/g)];
    return stamps.length ? wallOf(stamps.at(-1)[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** The gateway's own warnings and errors (pino JSON lines, level ≥ 40), the first 10, shortened. */
async function gatewayWarnings(gateway) {
  const out = await cli({ socket: gateway.socket }, ['logs', gateway.container]);
  const warnings = [];
  for (const line of (out.stdout + out.stderr).split('\n')) {
    try {
      const entry = JSON.parse(line);
      if (entry.level >= 40 && entry.msg !== 'request')
        warnings.push({ msg: entry.msg, user: entry.user, code: entry.code, detail: String(entry.detail ?? entry.err?.message ?? '').slice(0, 300) });
    } catch {}
    if (warnings.length >= 10) break;
  }
  return warnings;
}

/** Each node's state as the manager sees it (`ready`, `down`, …; `+drain` when drained). */
async function nodeStates(bed) {
  const nodes = await dockerOn(bed.manager)
    .listNodes()
    .catch(() => []);
  return Object.fromEntries(
    bed.nodes.map((n) => {
      const node = nodes.find((x) => x.ID === n.nodeId);
      return [n.name, node ? `${node.Status?.State}${node.Spec?.Availability === 'drain' ? '+drain' : ''}` : 'unknown'];
    }),
  );
}

/**
 * Watches the nodes while the swarm part runs (other sessions' tests stop and
 * start bed nodes, which kills the workspaces on them): every second, each
 * node's state as the manager sees it and whether its own engine answers a
 * ping. Records each change away from (and back to) `ready` with the phase it
 * fell in and the seconds since that phase began.
 */
function watchNodes(bed) {
  const pings = new Map(bed.nodes.map((n) => [n.name, new Docker({ socketPath: n.socket, timeout: 2000 })]));
  const events = [];
  const last = Object.fromEntries(bed.nodes.map((n) => [n.name, 'ready']));
  let phase = { name: 'start', t0: Date.now() };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const states = await nodeStates(bed);
      await Promise.all(
        bed.nodes.map(async (n) => {
          const up = await pings
            .get(n.name)
            .ping()
            .then(
              () => true,
              () => false,
            );
          if (!up) states[n.name] = states[n.name] === 'ready' ? 'engine not answering' : `${states[n.name]}, engine not answering`;
        }),
      );
      for (const [name, state] of Object.entries(states)) {
        if (state === last[name]) continue;
        last[name] = state;
        events.push({ node: name, state, phase: phase.name, after_s: Math.round((Date.now() - phase.t0) / 1000), at: new Date().toISOString() });
      }
      await sleep(1000);
    }
  })();
  return {
    events,
    phase: (name) => (phase = { name, t0: Date.now() }),
    during: (name) => events.filter((e) => e.phase === name),
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

const nodeName = (bed, id) => bed.nodes.find((n) => n.nodeId === id)?.name ?? id?.slice(0, 8) ?? '?';

/** Starts the gateway container on the manager; resolves { url, target, container, logs } once /healthz answers. */
async function startGatewayContainer(bed, instance, env) {
  const manager = bed.manager;
  const name = gatewayName(instance);
  const sockets = [...new Set(bed.nodes.map((n) => join(n.socket, '..')))];
  const started = await cli(manager, [
    'run',
    '-d',
    '--name',
    name,
    '--label',
    `${MANAGED_LABEL}=true`,
    '--label',
    `${INSTANCE_LABEL}=${instance}`,
    // Root inside, for the engine's socket (the gateway is the one container that holds it).
    '--user',
    '0:0',
    '-v',
    `${manager.socket}:/var/run/docker.sock`,
    // The nodes' engines (GATEWAY_SWARM_NODE_ENGINES, for files), and the code: dist/ and node_modules/ of this checkout.
    ...sockets.flatMap((dir) => ['-v', `${dir}:${dir}`]),
    '-v',
    `${REPO}:${REPO}:ro`,
    '-p',
    `${manager.ip}::${GATEWAY_PORT}`,
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    bed.images[0],
    'node',
    join(REPO, 'dist', 'main.js'),
  ]);
  if (started.code !== 0) throw new Error(`could not start the gateway container on ${manager.name}: ${started.stderr.trim()}`);
  const container = started.stdout.trim();
  const logs = async () => {
    const out = await cli(manager, ['logs', '--tail', '60', container]);
    return (out.stdout + out.stderr).trim();
  };
  const published = await cli(manager, ['port', container, `${GATEWAY_PORT}/tcp`]);
  const port = Number(published.stdout.trim().split('\n')[0]?.split(':').pop());
  if (!port) throw new Error(`the gateway container published no port: ${published.stdout}${published.stderr}`);
  const target = { host: manager.ip, port };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const healthy = await httpCall(target, 'GET', '/healthz', {}, 2000).then(
      (r) => r.status === 200,
      () => false,
    );
    if (healthy) break;
    if (Date.now() > deadline) throw new Error(`the gateway container did not answer /healthz within 30 s:\n${await logs()}`);
    await sleep(200);
  }
  return { url: `http://${manager.ip}:${port}`, target, container, socket: manager.socket, logs };
}

/**
 * Spawn storm (`users` at once), then cold start and wake (`coldReps`), on
 * the swarm runtime. The figures the docker part takes inside the gateway
 * (engine start() per call) are not reachable in its container; "until
 * running" is read from swarm itself: the task's `Status.Timestamp` once it
 * is running, against the moment of the first request.
 */
export async function swarmBench({ bed, users, coldReps, secret, pollMs = 50, log = console.error }) {
  const { loadConfig } = await import('../dist/gateway.js');
  const instance = `benchsw${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  let cleaned = false;
  onExit(() => cleaned || cleanupSync(bed, instance));
  const env = {
    ...GATEWAY_PROCESS_ENV,
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k === 'GATEWAY_MAX_CONCURRENT_SPAWNS' || k === 'GATEWAY_MAX_RUNNING')),
    GATEWAY_HOST: '0.0.0.0',
    GATEWAY_PORT: String(GATEWAY_PORT),
    GATEWAY_RUNTIME: 'swarm',
    GATEWAY_JWT_SECRET: secret,
    GATEWAY_IMAGE: bed.images[0],
    GATEWAY_INSTANCE: instance,
    GATEWAY_CONTAINER_PREFIX: `${instance}_`,
    GATEWAY_MEMORY_LIMIT: '256m',
    GATEWAY_SPAWN_TIMEOUT: '180s',
    GATEWAY_IDLE_TIMEOUT: '24h',
    GATEWAY_SWARM_NODE_ENGINES: bed.nodes.map((n) => `${n.nodeId}=unix://${n.socket}`).join(','),
    GATEWAY_LOG_LEVEL: process.env.BENCH_GATEWAY_LOG_LEVEL ?? 'warn',
  };
  // The same settings the container reads, checked here first (and the limits it will use, for the table).
  const config = loadConfig({ env });
  const sign = (user) => signToken(secret, { user_id: user });
  const admin = { authorization: `Bearer ${await signToken(secret, { user_id: 'bench-admin', is_staff: true })}`, accept: 'application/json' };
  const manager = dockerOn(bed.manager);
  const result = {
    image: bed.images[0],
    instance,
    nodes: bed.nodes.map((n) => `${n.name} (${n.role})`),
    max_concurrent_spawns: config.max_concurrent_spawns,
    max_running: config.max_running,
  };
  let gateway;
  const watch = watchNodes(bed);
  try {
    log(`swarm: starting the gateway in a container on ${bed.manager.name} …`);
    const t0 = nowMs();
    gateway = await startGatewayContainer(bed, instance, env);
    result.gateway_container_ready_ms = nowMs() - t0;
    result.gateway_url = gateway.url;
    const target = gateway.target;

    // --- Storm: N users, first page load at the same moment.
    log(`swarm: spawn storm of ${users} users over ${bed.nodes.length} nodes (max ${config.max_concurrent_spawns} concurrent spawns) …`);
    const stormUsers = Array.from({ length: users }, (_, i) => `storm-${String(i + 1).padStart(3, '0')}`);
    const tokens = await Promise.all(stormUsers.map(sign));
    const counts = { errors: [], capacity: 0, startingPages: 0 };
    watch.phase('storm');
    const fireAt = nowMs() + 200;
    const fireWall = Date.now() + 200;
    const deadline = fireAt + 240_000;
    const perUser = await Promise.all(
      stormUsers.map(async (user, i) => {
        await sleep(Math.max(0, fireAt - nowMs()));
        return pageLoadUntilReady(target, user, tokens[i], deadline, counts, pollMs);
      }),
    );
    const ok = perUser.map((r) => r.ms).filter(Number.isFinite);
    watch.phase('storm removal');
    const { services, current } = await servicesAndTasks(bed, instance);
    const perUserServices = new Map();
    for (const s of services) {
      const user = s.Spec?.Labels?.[USER_LABEL];
      if (user) perUserServices.set(user, (perUserServices.get(user) ?? 0) + 1);
    }
    const perNode = Object.fromEntries(bed.nodes.map((n) => [n.name, 0]));
    const untilRunning = [];
    let notRunning = 0;
    for (const task of current.values()) {
      if (task.Status?.State !== 'running') {
        notRunning++;
        continue;
      }
      const name = nodeName(bed, task.NodeID);
      perNode[name] = (perNode[name] ?? 0) + 1;
      untilRunning.push(wallOf(task.Status.Timestamp) - fireWall);
    }
    result.storm = {
      node_events: watch.during('storm'),
      users,
      ready: ok.length,
      timed_out: perUser.filter((r) => r.timedOut).length,
      all_ready_ms: ok.length === users ? Math.max(...ok) : NaN,
      per_user: stats(perUser.map((r) => r.ms)),
      until_running: stats(untilRunning),
      services: services.length,
      users_with_service: perUserServices.size,
      duplicate_services: [...perUserServices.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
      running_tasks_per_node: perNode,
      // Services whose current task no longer runs when the storm ends (killed with its node, or ended).
      tasks_not_running: notRunning,
      error_responses: counts.errors.length,
      errors: counts.errors.slice(0, 20),
      capacity_responses: counts.capacity,
      starting_pages: counts.startingPages,
    };
    if (counts.errors.length) result.storm.gateway_warnings = await gatewayWarnings(gateway);
    log(
      `swarm: storm done: ${ok.length}/${users} ready in ${(result.storm.all_ready_ms / 1000).toFixed(1)} s ` +
        `(${Object.entries(perNode)
          .map(([n, c]) => `${n}:${c}`)
          .join(' ')}); removing its workspaces through the gateway …`,
    );
    const t1 = nowMs();
    const removeErrors = [];
    await inBatches(stormUsers, 10, async (user) => {
      const res = await httpCall(target, 'DELETE', `/api/workspaces/${user}?volume=true`, admin).catch((err) => ({ status: 0, body: err.message }));
      if (res.status !== 200) removeErrors.push({ user, status: res.status, body: res.body.slice(0, 200) });
    });
    result.storm.remove_ms = nowMs() - t1;
    result.storm.remove_errors = removeErrors.slice(0, 10);
    if (removeErrors.length) log(`swarm: ${removeErrors.length} removals failed (the final clean-up takes them): ${JSON.stringify(removeErrors[0])}`);

    // --- Cold start and wake of one user: total, and until swarm reports the task running.
    log(`swarm: cold start and wake (${coldReps}×) …`);
    watch.phase('cold start and wake');
    result.cold = [];
    result.wake = [];
    result.failed_runs = [];
    for (let i = 0; i < coldReps; i++) {
      const user = `cold-${i + 1}`;
      const auth = { authorization: `Bearer ${await sign(user)}`, accept: 'application/json' };
      for (const phase of ['cold', 'wake']) {
        if (phase === 'wake') {
          const stopRes = await httpCall(target, 'POST', `/api/workspaces/${user}/stop`, auth).catch((err) => ({ status: 0, body: err.message }));
          if (stopRes.status !== 200) {
            result.failed_runs.push({ user, phase: 'stop', status: stopRes.status, body: stopRes.body.slice(0, 300) });
            break;
          }
          await sleep(300);
        }
        const wall0 = Date.now();
        const t0 = nowMs();
        const res = await httpCall(target, 'POST', `/api/workspaces/${user}/start`, auth).catch((err) => ({ status: 0, body: err.message }));
        const total = nowMs() - t0;
        const wall1 = wall0 + total;
        // A failed start is kept, not thrown: on the shared bed a node may be stopped under it (see node_events).
        if (res.status !== 200) {
          result.failed_runs.push({ user, phase, status: res.status, total_ms: total, body: res.body.slice(0, 300) });
          log(`swarm: ${phase} start of ${user} answered ${res.status}: ${res.body.slice(0, 200)}`);
          break;
        }
        const service = await manager
          .getService(`${instance}_${user}`)
          .inspect()
          .catch(() => undefined);
        const tasks = service ? await manager.listTasks({ filters: { service: [service.ID] } }) : [];
        const task = tasks.filter((t) => t.Status?.State === 'running').sort((a, b) => (a.CreatedAt < b.CreatedAt ? 1 : -1))[0];
        const runningAt = wallOf(task?.Status?.Timestamp);
        const listening = await editorListeningAt(bed, task);
        result[phase].push({
          user,
          node: nodeName(bed, task?.NodeID),
          total_ms: total,
          // Until swarm made the task (network, gateway join, service create/update), then until it ran.
          task_created_ms: wallOf(task?.CreatedAt) - wall0,
          until_running_ms: runningAt - wall0,
          after_running_ms: wall1 - runningAt,
          editor_boot_ms: listening - runningAt,
          noticed_after_ms: wall1 - listening,
          tasks_of_service: tasks.length,
        });
      }
    }
    const summarize = (rows) =>
      Object.fromEntries(
        ['total_ms', 'task_created_ms', 'until_running_ms', 'after_running_ms', 'editor_boot_ms', 'noticed_after_ms'].map((k) => [
          k,
          median(rows.map((r) => r[k]).filter(Number.isFinite)),
        ]),
      );
    result.cold_median = summarize(result.cold);
    result.wake_median = summarize(result.wake);
  } catch (err) {
    if (gateway) err.message += `\n(gateway container output, last lines:)\n${await gateway.logs().catch(() => '')}`;
    throw err;
  } finally {
    await watch.stop();
    result.node_events = watch.events;
    log('swarm: removing every service, container, network and volume of this run on every node …');
    const t0 = nowMs();
    const left = await cleanup(bed, instance).catch((err) => {
      log(`swarm: cleanup failed (${err.message}); the exit hook tries again`);
      return undefined;
    });
    result.cleanup_ms = nowMs() - t0;
    result.left_behind = left;
    if (left && Object.values(left).every((n) => n === 0)) cleaned = true;
    else if (left) log(`swarm: left after cleanup: ${JSON.stringify(left)}; the exit hook tries again`);
  }
  return result;
}
