// The engine part: a spawn storm, sequential spawns, cold start and wake
// against the real Docker Engine and the demo workspace image. Everything is
// labelled with a per-run instance id and removed by that label at the end,
// also when the bench fails or is interrupted.
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import Docker from 'dockerode';
import { SignJWT } from 'jose';
import { REPO } from './targets.mjs';
import { median, nowMs, onExit, percentile, run, sleep } from './util.mjs';

export const ENGINE_SOCKET = '/var/run/docker.sock';
export const DOCKER_CLI = '/usr/bin/docker';
export const INSTANCE_LABEL = 'workspace-gateway.instance';
const USER_LABEL = 'workspace-gateway.user';

/** True when a Docker Engine answers at the local socket within 2 s. */
export function engineAnswers() {
  return new Promise((resolve) => {
    const req = request({ socketPath: ENGINE_SOCKET, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export async function engineVersion() {
  const r = await run(DOCKER_CLI, ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 });
  return r.code === 0 ? r.stdout.trim() : 'unknown';
}

export async function buildImage() {
  const r = await run('bash', [join(REPO, 'images/demo-workspace/build-image.sh')], {
    timeoutMs: 300_000,
    cwd: REPO,
    env: { ...process.env, DOCKER: DOCKER_CLI },
  });
  const tag = r.stdout.trim().split('\n').pop();
  if (r.code !== 0 || !tag) throw new Error(`build-image.sh failed (code ${r.code}):\n${r.stderr.slice(-2000)}`);
  return tag;
}

export const docker = new Docker({ socketPath: ENGINE_SOCKET });

async function inBatches(items, size, fn) {
  for (let i = 0; i < items.length; i += size) await Promise.allSettled(items.slice(i, i + size).map(fn));
}

/** Removes every container and volume of the instance (and its networks unless `keepNetwork`). */
export async function cleanup(instance, { keepNetwork = false } = {}) {
  const filters = { label: [`${INSTANCE_LABEL}=${instance}`] };
  const containers = await docker.listContainers({ all: true, filters });
  await inBatches(containers, 16, (c) => docker.getContainer(c.Id).remove({ force: true, v: true }));
  const { Volumes: volumes } = await docker.listVolumes({ filters });
  await inBatches(volumes ?? [], 16, (v) => docker.getVolume(v.Name).remove({ force: true }));
  if (!keepNetwork) {
    const networks = await docker.listNetworks({ filters });
    await inBatches(networks, 4, (n) => docker.getNetwork(n.Id).remove());
  }
}

/** The same, synchronous, with the distribution's client: runs from the process 'exit' hook. */
export function cleanupSync(instance, timeoutMs = 120_000) {
  const filter = `label=${INSTANCE_LABEL}=${instance}`;
  const cli = (args) =>
    execFileSync(DOCKER_CLI, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean);
  const ids = cli(['ps', '-aq', '--filter', filter]);
  if (ids.length) cli(['rm', '-f', '-v', ...ids]);
  const volumes = cli(['volume', 'ls', '-q', '--filter', filter]);
  if (volumes.length) cli(['volume', 'rm', '-f', ...volumes]);
  const networks = cli(['network', 'ls', '-q', '--filter', filter]);
  if (networks.length) cli(['network', 'rm', ...networks]);
}

/** Containers per user label: duplicates are the ones beyond the first. */
export async function containersPerUser(instance) {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${INSTANCE_LABEL}=${instance}`] } });
  const perUser = new Map();
  for (const c of containers) {
    const user = c.Labels?.[USER_LABEL];
    if (!user) continue;
    perUser.set(user, (perUser.get(user) ?? 0) + 1);
  }
  return perUser;
}

/**
 * Wall-clock ms when the demo server in the user's container last printed
 * "listening", from the engine's own log timestamps (undefined if not found).
 */
async function editorListeningAt(containerName) {
  try {
    const raw = await docker.getContainer(containerName).logs({ stdout: true, stderr: true, timestamps: true });
    const text = Buffer.isBuffer(raw) ? raw.toString('latin1') : String(raw);
    const stamps = [...text.matchAll(/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z [^\n]*listening/g)];
    const last = stamps.at(-1);
    if (!last) return undefined;
    return Date.parse(`${last[1]}${(last[2] ?? '.0').slice(0, 4)}Z`);
  } catch {
    return undefined;
  }
}

/** Wraps a runtime so every engine call is timed (the gateway is unaware of it). */
function timedRuntime(inner, log) {
  let active = 0;
  const state = { peakConcurrentStarts: 0 };
  const timedOps = new Set(['start', 'inspect', 'stop', 'list', 'remove']);
  const proxy = new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (!timedOps.has(prop)) return value.bind(target);
      return async (...args) => {
        const t0 = nowMs();
        if (prop === 'start') state.peakConcurrentStarts = Math.max(state.peakConcurrentStarts, ++active);
        let ok = false;
        try {
          const result = await value.apply(target, args);
          ok = true;
          return result;
        } finally {
          if (prop === 'start') active--;
          log.push({ op: prop, user: typeof args[0] === 'string' ? args[0] : undefined, t0, t1: nowMs(), wall1: Date.now(), ok });
        }
      };
    },
  });
  return { runtime: proxy, state };
}

/** One HTTP request to the gateway; `to` is a port on 127.0.0.1 or `{ host, port }`; `body` a string, if any. */
export function httpCall(to, method, path, headers, timeoutMs = 180_000, body = undefined) {
  const { host, port } = typeof to === 'object' ? to : { host: '127.0.0.1', port: to };
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The gateway's error code: JSON `{error}` for API clients, `Code: <code>…</code>` on pages. */
const errorCode = (body) => {
  try {
    const json = JSON.parse(body);
    return typeof json.error === 'string' ? json.error : json.error?.code;
  } catch {
    return /Code: <code>([^<]+)<\/code>/.exec(body)?.[1];
  }
};

/**
 * A student's browser: page loads (Sec-Fetch-Mode: navigate) until the
 * workspace itself answers. The gateway holds each page load up to 400 ms
 * before it answers "starting", so this is a long poll, not a busy loop.
 */
export async function pageLoadUntilReady(port, user, jwt, deadline, counts, pollMs) {
  const t0 = nowMs();
  const headers = { cookie: `workspace_token=${jwt}`, accept: 'text/html', 'sec-fetch-mode': 'navigate', 'user-agent': 'workspace-gateway-bench' };
  let startingPages = 0;
  while (nowMs() < deadline) {
    let res;
    try {
      res = await httpCall(port, 'GET', `/ws/${user}/`, headers, Math.max(1000, deadline - nowMs()));
    } catch (err) {
      counts.errors.push({ user, error: err.message });
      await sleep(250);
      continue;
    }
    if (res.status === 200 && res.headers['x-workspace-status'] === 'starting') {
      startingPages++;
      counts.startingPages++;
      await sleep(pollMs);
      continue;
    }
    if (res.status === 200 && res.body.includes(`Workspace of ${user}<`)) return { user, ms: nowMs() - t0, startingPages };
    if (res.status === 200 && res.body.includes('Workspace of ')) {
      counts.errors.push({ user, status: res.status, error: "another user's workspace answered" });
      return { user, ms: NaN, wrongWorkspace: true };
    }
    const code = errorCode(res.body);
    if (res.status === 503 && code === 'capacity_full') {
      counts.capacity++;
      await sleep(1000);
      continue;
    }
    const message = /<\/h1><p>([^<]*)<\/p>/.exec(res.body)?.[1];
    counts.errors.push({ user, status: res.status, code, ...(message ? { message } : { body: res.body.slice(0, 200) }) });
    await sleep(500);
  }
  return { user, ms: NaN, timedOut: true };
}

export const stats = (values) => {
  const ok = values.filter(Number.isFinite);
  return { n: ok.length, p50_ms: percentile(ok, 50), p95_ms: percentile(ok, 95), p99_ms: percentile(ok, 99), max_ms: ok.length ? Math.max(...ok) : NaN };
};

/** An HS256 JWT with these claims, signed with the run's secret, valid for 2 h. */
export const signToken = (secret, claims) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('2h').sign(new TextEncoder().encode(secret));

export async function engineBench({ users, sequentialBudgetS, coldReps, secret, pollMs = 50, log = console.error }) {
  const { createApp, createLogger, createRuntime, loadConfig } = await import('../dist/gateway.js');

  const image = await buildImage();
  const instance = `bench${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  onExit(() => cleanupSync(instance));
  const config = loadConfig({
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k === 'GATEWAY_MAX_CONCURRENT_SPAWNS' || k === 'GATEWAY_MAX_RUNNING')),
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: '0',
      GATEWAY_RUNTIME: 'docker',
      GATEWAY_IMAGE: image,
      GATEWAY_INSTANCE: instance,
      GATEWAY_CONTAINER_PREFIX: `${instance}_`,
      GATEWAY_NETWORK: `wgbench_${instance}`,
      GATEWAY_MEMORY_LIMIT: '256m',
      GATEWAY_SPAWN_TIMEOUT: '180s',
      GATEWAY_IDLE_TIMEOUT: '24h',
      GATEWAY_JWT_SECRET: secret,
      GATEWAY_LOG_LEVEL: process.env.BENCH_GATEWAY_LOG_LEVEL ?? 'warn',
    },
  });
  const logger = createLogger(config.log_level, process.stderr);
  const calls = [];
  const { runtime, state } = timedRuntime(await createRuntime(config, logger), calls);
  const app = createApp({ config, logger, runtime });
  const sign = (user) => signToken(secret, { user_id: user });

  const result = { image, instance, max_concurrent_spawns: config.max_concurrent_spawns, max_running: config.max_running };
  try {
    const { port } = await app.listen();

    // --- Storm: N users, first request at the same moment.
    log(`engine: spawn storm of ${users} users (max ${config.max_concurrent_spawns} concurrent spawns) …`);
    const stormUsers = Array.from({ length: users }, (_, i) => `storm-${String(i + 1).padStart(3, '0')}`);
    const tokens = await Promise.all(stormUsers.map(sign));
    const stormCounts = { errors: [], capacity: 0, startingPages: 0 };
    calls.length = 0;
    state.peakConcurrentStarts = 0;
    const fireAt = nowMs() + 200;
    const deadline = fireAt + 240_000;
    const perUser = await Promise.all(
      stormUsers.map(async (user, i) => {
        await sleep(Math.max(0, fireAt - nowMs()));
        return pageLoadUntilReady(port, user, tokens[i], deadline, stormCounts, pollMs);
      }),
    );
    const stormWall = Math.max(...perUser.map((r) => r.ms).filter(Number.isFinite));
    const perUserContainers = await containersPerUser(instance);
    const duplicates = [...perUserContainers.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);
    const startCalls = calls.filter((c) => c.op === 'start');
    result.storm = {
      users,
      ready: perUser.filter((r) => Number.isFinite(r.ms)).length,
      timed_out: perUser.filter((r) => r.timedOut).length,
      all_ready_ms: perUser.every((r) => Number.isFinite(r.ms)) ? stormWall : NaN,
      per_user: stats(perUser.map((r) => r.ms)),
      engine_start: stats(startCalls.map((c) => c.t1 - c.t0)),
      start_calls: startCalls.length,
      peak_concurrent_starts: state.peakConcurrentStarts,
      containers: [...perUserContainers.values()].reduce((a, b) => a + b, 0),
      users_with_container: perUserContainers.size,
      duplicate_containers: duplicates,
      error_responses: stormCounts.errors.length,
      errors: stormCounts.errors.slice(0, 20),
      capacity_responses: stormCounts.capacity,
      starting_pages: stormCounts.startingPages,
    };
    log(`engine: storm done: ${result.storm.ready}/${users} ready in ${(stormWall / 1000).toFixed(1)} s; removing its containers …`);
    await cleanup(instance, { keepNetwork: true });

    // --- Sequential: one user after the other, within a time budget.
    log(`engine: sequential spawns (up to ${users}, budget ${sequentialBudgetS} s) …`);
    const seqCounts = { errors: [], capacity: 0, startingPages: 0 };
    const seq = [];
    const seqStart = nowMs();
    calls.length = 0;
    for (let i = 0; i < users && nowMs() - seqStart < sequentialBudgetS * 1000; i++) {
      const user = `seq-${String(i + 1).padStart(3, '0')}`;
      seq.push(await pageLoadUntilReady(port, user, await sign(user), nowMs() + 120_000, seqCounts, pollMs));
    }
    const seqElapsed = nowMs() - seqStart;
    const seqContainers = await containersPerUser(instance);
    const seqOk = seq.map((r) => r.ms).filter(Number.isFinite);
    const meanSeq = seqOk.reduce((a, b) => a + b, 0) / (seqOk.length || 1);
    result.sequential = {
      users_attempted: seq.length,
      ready: seqOk.length,
      elapsed_ms: seqElapsed,
      budget_s: sequentialBudgetS,
      all_ready_ms: seq.length === users && seqOk.length === users ? seqElapsed : NaN,
      projected_all_ms: meanSeq * users,
      per_user: stats(seq.map((r) => r.ms)),
      engine_start: stats(calls.filter((c) => c.op === 'start').map((c) => c.t1 - c.t0)),
      duplicate_containers: [...seqContainers.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
      error_responses: seqCounts.errors.length,
      errors: seqCounts.errors.slice(0, 20),
      capacity_responses: seqCounts.capacity,
    };
    await cleanup(instance, { keepNetwork: true });

    // --- Cold start and wake of one user, split into engine time and gateway overhead.
    log(`engine: cold start and wake (${coldReps}×) …`);
    result.cold = [];
    result.wake = [];
    for (let i = 0; i < coldReps; i++) {
      const user = `cold-${i + 1}`;
      const auth = { authorization: `Bearer ${await sign(user)}`, accept: 'application/json' };
      for (const phase of ['cold', 'wake']) {
        if (phase === 'wake') {
          const stopRes = await httpCall(port, 'POST', `/api/workspaces/${user}/stop`, auth);
          if (stopRes.status !== 200) throw new Error(`stop of ${user} answered ${stopRes.status}: ${stopRes.body.slice(0, 300)}`);
          await sleep(300);
        }
        calls.length = 0;
        const t0 = nowMs();
        const res = await httpCall(port, 'POST', `/api/workspaces/${user}/start`, auth);
        const t1 = nowMs();
        if (res.status !== 200) throw new Error(`start of ${user} answered ${res.status}: ${res.body.slice(0, 300)}`);
        const mine = calls.filter((c) => c.user === user && c.t0 >= t0 && c.t1 <= t1);
        const start = mine.find((c) => c.op === 'start');
        const engineStart = start ? start.t1 - start.t0 : 0;
        const engineOther = mine.filter((c) => c.op !== 'start').reduce((sum, c) => sum + (c.t1 - c.t0), 0);
        const firstEngine = mine.length ? Math.min(...mine.map((c) => c.t0)) : t0;
        const total = t1 - t0;
        const listening = await editorListeningAt(`${config.container_prefix}${user}`);
        // Split of "after start()": the editor booting, then the gateway noticing (readiness polling) and answering.
        const editorBoot = start && listening !== undefined ? listening - start.wall1 : NaN;
        result[phase].push({
          user,
          total_ms: total,
          engine_start_ms: engineStart,
          engine_other_ms: engineOther,
          overhead_ms: total - engineStart,
          before_engine_ms: firstEngine - t0,
          after_start_ms: start ? t1 - start.t1 : NaN,
          editor_boot_ms: editorBoot,
          noticed_after_ms: Number.isFinite(editorBoot) ? t1 - start.t1 - editorBoot : NaN,
        });
      }
    }
    const summarize = (rows) =>
      Object.fromEntries(
        ['total_ms', 'engine_start_ms', 'engine_other_ms', 'overhead_ms', 'before_engine_ms', 'after_start_ms', 'editor_boot_ms', 'noticed_after_ms'].map(
          (k) => [k, median(rows.map((r) => r[k]))],
        ),
      );
    result.cold_median = summarize(result.cold);
    result.wake_median = summarize(result.wake);
  } finally {
    await app.close().catch(() => {});
    log('engine: removing every container, volume and network of this run …');
    await cleanup(instance).catch((err) => log(`engine: cleanup failed (${err.message}); the exit hook tries again`));
    const left = await docker.listContainers({ all: true, filters: { label: [`${INSTANCE_LABEL}=${instance}`] } }).catch(() => []);
    result && (result.left_behind_containers = left.length);
  }
  return result;
}
