// The lecture hall (issue 15): N students' first page loads at the same
// moment against the real Docker Engine and the demo image, with the default
// spawn concurrency; the same N loading again while running; then the same N
// pre-warmed through POST /api/prewarm and loaded at once. The gateway runs as
// production runs it (`node dist/main.js`, GATEWAY_* settings, Docker runtime)
// in its own process, so its RSS is its own and not the bench's clients'.
// Everything is labelled with the run's instance id and removed by that label
// at the end, also when the bench fails or is interrupted.
import { createWriteStream, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { buildImage, cleanup, cleanupSync, containersPerUser, docker, httpCall, INSTANCE_LABEL, pageLoadUntilReady, signToken, stats } from './engine.mjs';
import { childrenTicks, cpuTicks, CLK_TCK, machineTicks, othersShare, processTree, treeRssKiB } from './procstat.mjs';
import { GATEWAY_PROCESS_ENV, REPO } from './targets.mjs';
import { freePort, nowMs, onExit, sleep, spawnChild, stopChild } from './util.mjs';

const MiB = 1024;
const PAGE_HEADERS = { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'user-agent': 'workspace-gateway-bench' };
const SPAWN_TIMEOUT = '180s';

/** MemAvailable of the machine in KiB. */
function memAvailableKiB() {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Proportional set size (KiB) of one process: its shared pages divided among their sharers (0 when gone). */
function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Memory (KiB) of the engine's own processes: dockerd, containerd and every
 * containerd-shim (machine-wide). RSS counts the shims' shared pages once per
 * shim; PSS divides them, so PSS is what they cost together.
 */
function engineMemory() {
  const pids = enginePids();
  return { rss_kib: treeRssKiB(pids), pss_kib: pids.reduce((sum, pid) => sum + pssKiB(pid), 0), processes: pids.length };
}

function enginePids() {
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const comm = readFileSync(`/proc/${name}/comm`, 'utf8').trim();
      if (comm === 'dockerd' || comm.startsWith('containerd')) pids.push(Number(name));
    } catch {}
  }
  return pids;
}

/** CPU of one container in clock ticks, from its cgroup (v1 cpuacct with the cgroupfs driver, or v2); 0 when unreadable. */
function containerTicks(id) {
  for (const [file, toTicks] of [
    [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, (text) => (Number(text) / 1e9) * CLK_TCK],
    [`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, (text) => (Number(/usage_usec (\d+)/.exec(text)?.[1] ?? 0) / 1e6) * CLK_TCK],
  ]) {
    try {
      return toTicks(readFileSync(file, 'utf8'));
    } catch {}
  }
  return 0;
}

/** Kernel threads (kthreadd and its children): namespace and mount work of the engine's spawns runs in kworkers. */
function kernelThreadPids() {
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
      if (name === '2' || ppid === 2) pids.push(Number(name));
    } catch {}
  }
  return pids;
}

/**
 * CPU the rest of the machine used during a phase, as a share of all cores:
 * machine-wide busy time (/proc/stat user+nice+system) minus the bench
 * process, the gateway, the engine's processes with the children they reaped
 * (runc, shim launchers), kernel threads, and this run's containers. Other
 * sessions' tests on the same machine show up here (as busy rounds do in the
 * proxy part); the engine's and the kernel's work for their containers counts
 * as ours, so this is a lower bound.
 */
async function cpuWindow(instance, gatewayPid) {
  const ours = async () => {
    const ids = (await docker.listContainers({ filters: { label: [`${INSTANCE_LABEL}=${instance}`] } })).map((c) => c.Id);
    return {
      containers: new Map(ids.map((id) => [id, containerTicks(id)])),
      processes: new Map([
        ...[process.pid, gatewayPid, ...kernelThreadPids()].map((pid) => [pid, cpuTicks(pid)]),
        ...enginePids().map((pid) => [pid, cpuTicks(pid) + childrenTicks(pid)]),
      ]),
    };
  };
  const delta = (now, before) => [...now].reduce((sum, [k, v]) => sum + Math.max(0, v - (before.get(k) ?? 0)), 0);
  const m0 = machineTicks();
  const o0 = await ours();
  return async () => {
    const o1 = await ours();
    const m1 = machineTicks();
    const total = m1.total - m0.total;
    const mine = delta(o1.processes, o0.processes) + delta(o1.containers, o0.containers);
    return {
      window_ms: (total / CLK_TCK / cpus().length) * 1000,
      machine_busy_share: (m1.busy - m0.busy) / total,
      others_cpu_share: othersShare(m0, m1, mine),
      steal_share: (m1.steal - m0.steal) / total,
    };
  };
}

/** From the gateway's /metrics: its V8 heap and external memory, and its spawn-time histogram (count, sum). */
async function gatewayMetrics(port) {
  const res = await httpCall(port, 'GET', '/metrics', {}, 10_000).catch(() => undefined);
  if (res?.status !== 200) return { unavailable: res ? `answered ${res.status}` : 'no answer' };
  const value = (name) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(res.body);
    return m ? Number(m[1]) : NaN;
  };
  const spawns = value('workspace_gateway_spawn_duration_seconds_count');
  return {
    heap_used_mib: value('workspace_gateway_nodejs_heap_size_used_bytes') / 2 ** 20,
    heap_total_mib: value('workspace_gateway_nodejs_heap_size_total_bytes') / 2 ** 20,
    external_mib: value('workspace_gateway_nodejs_external_memory_bytes') / 2 ** 20,
    spawns,
    spawn_mean_s: value('workspace_gateway_spawn_duration_seconds_sum') / spawns,
  };
}

/** The gateway's own warnings and errors (pino JSON, level 40 and above) from its log file, the first `max`. */
function gatewayWarnings(logFile, max = 10) {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const found = [];
  for (const line of text.split('\n')) {
    if (found.length >= max) break;
    try {
      const entry = JSON.parse(line);
      if (entry.level >= 40) found.push({ level: entry.level, msg: entry.msg, user: entry.user, err: entry.err?.message ?? entry.reason });
    } catch {
      if (line.trim()) found.push({ line: line.slice(0, 300) });
    }
  }
  return found;
}

const runningContainers = async (instance) =>
  (await docker.listContainers({ filters: { label: [`${INSTANCE_LABEL}=${instance}`], status: ['running'] } })).length;

/** Samples the gateway's RSS every 250 ms until stopped; `peak` in KiB. */
function rssSampler(pid) {
  const s = { peak: 0, samples: 0 };
  const timer = setInterval(() => {
    s.peak = Math.max(s.peak, treeRssKiB(processTree(pid)));
    s.samples++;
  }, 250);
  return { stop: () => (clearInterval(timer), s.peak) };
}

/**
 * `node dist/main.js` with the Docker runtime, waiting until /readyz answers
 * 200. Only the bench's own GATEWAY_* settings reach it, plus
 * GATEWAY_MAX_CONCURRENT_SPAWNS / GATEWAY_MAX_RUNNING from the environment.
 */
async function startDockerGateway({ work, settings, name }) {
  const port = await freePort();
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GATEWAY_')));
  const passed = Object.fromEntries(Object.entries(process.env).filter(([k]) => k === 'GATEWAY_MAX_CONCURRENT_SPAWNS' || k === 'GATEWAY_MAX_RUNNING'));
  const child = spawnChild(process.execPath, [join(REPO, 'dist/main.js')], {
    cwd: work,
    env: { ...base, ...GATEWAY_PROCESS_ENV, ...passed, ...settings, GATEWAY_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The gateway's log (pino, stdout) and anything on stderr go to a file; the bench keeps stdout for its tables.
  const logFile = join(work, `${name}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const deadline = nowMs() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before it was ready (see ${logFile})`);
    const res = await httpCall(port, 'GET', '/readyz', {}, 2000).catch(() => undefined);
    if (res?.status === 200) break;
    if (nowMs() > deadline) throw new Error(`${name} did not answer /readyz with 200 within 30 s (last: ${res?.status ?? 'no answer'}; see ${logFile})`);
    await sleep(100);
  }
  return { port, pid: child.pid, child, logFile, rssKiB: () => treeRssKiB(processTree(child.pid)), stop: () => stopChild(child, 10_000) };
}

/**
 * One user's page load at a given moment: the time until the gateway's first
 * answer, and what it was (the user's own workspace, the starting page, a
 * capacity 503, or an error).
 */
async function onePageLoad(port, user, jwt) {
  const t0 = nowMs();
  try {
    const res = await httpCall(port, 'GET', `/ws/${user}/`, { ...PAGE_HEADERS, cookie: `workspace_token=${jwt}` }, 120_000);
    const ms = nowMs() - t0;
    if (res.status === 200 && res.headers['x-workspace-status'] === 'starting') return { user, ms, kind: 'starting' };
    if (res.status === 200 && res.body.includes(`Workspace of ${user}<`)) return { user, ms, kind: 'workspace' };
    if (res.status === 503 && /capacity_full/.test(res.body)) return { user, ms, kind: 'capacity' };
    return { user, ms, kind: 'error', status: res.status, body: res.body.slice(0, 200) };
  } catch (err) {
    return { user, ms: nowMs() - t0, kind: 'error', error: err.message };
  }
}

/** Every user's page load at the same moment (after `lead` ms, so all are set up first). */
async function allAtOnce(users, tokens, fn, lead = 300) {
  const fireAt = nowMs() + lead;
  return Promise.all(
    users.map(async (user, i) => {
      await sleep(Math.max(0, fireAt - nowMs()));
      return fn(user, tokens[i]);
    }),
  );
}

/** The figures of a row of single page loads (one request per user, all at once). */
function loadRow(loads) {
  const ok = loads.filter((r) => r.kind === 'workspace');
  return {
    users: loads.length,
    ready: ok.length,
    // The user's first answer, whatever it was: the first page load a student sees.
    first_answer: stats(loads.map((r) => r.ms)),
    all_answered_ms: Math.max(...loads.map((r) => r.ms)),
    starting_pages: loads.filter((r) => r.kind === 'starting').length,
    capacity_responses: loads.filter((r) => r.kind === 'capacity').length,
    error_responses: loads.filter((r) => r.kind === 'error').length,
    errors: loads.filter((r) => r.kind === 'error').slice(0, 10),
  };
}

/** One page load per student, all at once, with the gateway's CPU and RSS and the machine's other CPU over the phase. */
async function loadsAtOnce(gw, instance, roster, tokens) {
  const ticks0 = cpuTicks(gw.pid);
  const window = await cpuWindow(instance, gw.pid);
  const row = loadRow(await allAtOnce(roster, tokens, (user, jwt) => onePageLoad(gw.port, user, jwt)));
  Object.assign(row, await window());
  row.gateway_cpu_s = (cpuTicks(gw.pid) - ticks0) / CLK_TCK;
  row.gateway_rss_mib = gw.rssKiB() / MiB;
  return row;
}

const duplicatesOf = (perUser) => [...perUser.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);

/**
 * Probe: one workspace started through the gateway, its memory read from its
 * cgroup (usage minus inactive file pages) and its shim; then removed. Says
 * whether `users` of them fit in what the machine has available.
 */
async function probeFit({ port, instance, prefix, secret, users }) {
  const user = 'lecture-probe';
  const token = await signToken(secret, { user_id: user });
  const res = await httpCall(port, 'POST', `/api/workspaces/${user}/start`, { authorization: `Bearer ${token}`, accept: 'application/json' });
  if (res.status !== 200) throw new Error(`probe start of ${user} answered ${res.status}: ${res.body.slice(0, 300)}`);
  await sleep(1000);
  const st = await docker.getContainer(`${prefix}${user}`).stats({ stream: false });
  const m = st.memory_stats ?? {};
  const inactive = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0;
  const containerKiB = Math.max(0, ((m.usage ?? 0) - inactive) / 1024);
  // Each running container also has a containerd-shim (~10-15 MiB); the engine's own growth is measured at the end.
  const shimKiB = 14 * MiB;
  const perWorkspaceKiB = containerKiB + shimKiB;
  await cleanup(instance, { keepNetwork: true });
  const availableKiB = memAvailableKiB();
  // Room for the gateway, the engine's own growth and page cache: a third on top, plus 1 GiB.
  const neededKiB = users * perWorkspaceKiB * 1.33 + 1024 * MiB;
  return {
    container_mib: containerKiB / MiB,
    per_workspace_estimate_mib: perWorkspaceKiB / MiB,
    available_mib: availableKiB / MiB,
    needed_mib: neededKiB / MiB,
    fits: neededKiB < availableKiB,
    fits_users: Math.floor((availableKiB - 1024 * MiB) / (perWorkspaceKiB * 1.33)),
  };
}

export async function lectureBench({ users, secret, work, pollMs = 50, prewarm = 'auto', log = console.error }) {
  const image = await buildImage();
  const instance = `benchlh${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  // 200 containers take a while to remove: the exit hook's client gets 5 minutes per call.
  onExit(() => cleanupSync(instance, 300_000));
  const stateDir = join(work, 'lecture-state');
  mkdirSync(stateDir, { recursive: true });
  const prefix = `${instance}_`;
  const settings = {
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_RUNTIME: 'docker',
    GATEWAY_IMAGE: image,
    GATEWAY_INSTANCE: instance,
    GATEWAY_CONTAINER_PREFIX: prefix,
    GATEWAY_NETWORK: `wgbench_${instance}`,
    GATEWAY_MEMORY_LIMIT: '256m',
    GATEWAY_SPAWN_TIMEOUT: SPAWN_TIMEOUT,
    GATEWAY_IDLE_TIMEOUT: '24h',
    GATEWAY_JWT_SECRET: secret,
    GATEWAY_STATE_DIR: stateDir,
    // All of the bench's students come from 127.0.0.1; in a lecture hall each has an address of their own.
    GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '0',
    GATEWAY_LOG_LEVEL: process.env.BENCH_GATEWAY_LOG_LEVEL ?? 'warn',
  };
  const roster = Array.from({ length: users }, (_, i) => `lecture-${String(i + 1).padStart(3, '0')}`);
  const tokens = await Promise.all(roster.map((user) => signToken(secret, { user_id: user })));
  const result = {
    image,
    instance,
    users,
    max_concurrent_spawns: Number(process.env.GATEWAY_MAX_CONCURRENT_SPAWNS ?? 8),
    max_running: Number(process.env.GATEWAY_MAX_RUNNING ?? 0),
    spawn_timeout: SPAWN_TIMEOUT,
  };
  let gw;
  try {
    gw = await startDockerGateway({ work, settings, name: 'lecture-gateway-1' });
    result.engine_before = { ...engineMemory(), mem_available_mib: memAvailableKiB() / MiB };

    // --- Does the class fit on this machine?
    log(`lecture: probing one demo workspace's memory …`);
    result.fit = await probeFit({ port: gw.port, instance, prefix, secret, users });
    log(
      `lecture: one demo workspace ≈ ${result.fit.per_workspace_estimate_mib.toFixed(0)} MiB (container ${result.fit.container_mib.toFixed(0)} + shim); ` +
        `${users} need ≈ ${(result.fit.needed_mib / 1024).toFixed(1)} GiB with reserve, ${(result.fit.available_mib / 1024).toFixed(1)} GiB available`,
    );
    if (!result.fit.fits) {
      result.skipped = `this machine cannot hold ${users} demo workspaces: they need ≈ ${(result.fit.needed_mib / 1024).toFixed(1)} GiB with reserve, ${(result.fit.available_mib / 1024).toFixed(1)} GiB are available (about ${result.fit.fits_users} would fit; BENCH_LECTURE_USERS)`;
      return result;
    }
    const memBefore = memAvailableKiB();
    await sleep(500);
    result.gateway_idle_rss_mib = gw.rssKiB() / MiB;

    // --- Cold: every student's first page load at the same moment, re-loading like the starting page until the workspace answers.
    log(`lecture: ${users} first page loads at once (cold, max ${result.max_concurrent_spawns} concurrent spawns) …`);
    const counts = { errors: [], capacity: 0, startingPages: 0 };
    let sampler = rssSampler(gw.pid);
    let ticks0 = cpuTicks(gw.pid);
    let window = await cpuWindow(instance, gw.pid);
    const deadline = nowMs() + 360_000;
    const cold = await allAtOnce(roster, tokens, (user, jwt) => pageLoadUntilReady(gw.port, user, jwt, deadline, counts, pollMs));
    const coldPeak = sampler.stop();
    const coldCpu = await window();
    const ready = cold.filter((r) => Number.isFinite(r.ms));
    result.cold = {
      users,
      ready: ready.length,
      timed_out: cold.filter((r) => r.timedOut).length,
      all_ready_ms: ready.length === users ? Math.max(...ready.map((r) => r.ms)) : NaN,
      per_user: stats(cold.map((r) => r.ms)),
      duplicate_containers: duplicatesOf(await containersPerUser(instance)),
      running_containers: await runningContainers(instance),
      error_responses: counts.errors.length,
      errors: counts.errors.slice(0, 20),
      capacity_responses: counts.capacity,
      starting_pages: counts.startingPages,
      gateway_cpu_s: (cpuTicks(gw.pid) - ticks0) / CLK_TCK,
      gateway_peak_rss_mib: coldPeak / MiB,
      ...coldCpu,
    };
    log(
      `lecture: cold: ${ready.length}/${users} ready after ${((result.cold.all_ready_ms || NaN) / 1000).toFixed(1)} s; ${result.cold.running_containers} running`,
    );
    await sleep(2000);
    result.cold.gateway_rss_at_running_mib = gw.rssKiB() / MiB;
    result.cold.gateway_metrics = await gatewayMetrics(gw.port);
    result.cold.machine_mib_per_workspace = (memBefore - memAvailableKiB()) / MiB / Math.max(1, result.cold.running_containers);
    result.engine_at_running = { ...engineMemory(), mem_available_mib: memAvailableKiB() / MiB };

    // --- Running: the same students load again at once (each workspace already answers): the figure a pre-warmed load should match.
    log(`lecture: ${users} page loads at once on running workspaces …`);
    result.running = await loadsAtOnce(gw, instance, roster, tokens);

    // --- Between: a fresh gateway and no workspaces (containers and volumes removed), so the pre-warm starts as cold as the storm did.
    log(`lecture: removing the ${result.cold.running_containers} workspaces and starting a fresh gateway …`);
    await gw.stop();
    result.cold.gateway_warnings = gatewayWarnings(gw.logFile);
    const tRemove = nowMs();
    await cleanup(instance, { keepNetwork: true });
    result.removal_ms = nowMs() - tRemove;
    if (prewarm === '0') {
      result.prewarm = { skipped: 'disabled (BENCH_LECTURE_PREWARM=0)' };
      return result;
    }
    gw = await startDockerGateway({ work, settings, name: 'lecture-gateway-2' });
    await sleep(500);
    result.prewarm_gateway_idle_rss_mib = gw.rssKiB() / MiB;

    // --- Pre-warm: POST /api/prewarm with readyBy now (start at once), follow the job until no user is pending or starting.
    const admin = { authorization: `Bearer ${await signToken(secret, { user_id: 'lecturer', is_staff: true })}`, accept: 'application/json' };
    log(`lecture: POST /api/prewarm for the ${users} users (readyBy now) …`);
    sampler = rssSampler(gw.pid);
    ticks0 = cpuTicks(gw.pid);
    window = await cpuWindow(instance, gw.pid);
    const t0 = nowMs();
    const postedAtWall = Date.now();
    const body = JSON.stringify({ users: roster, readyBy: new Date().toISOString(), holdFor: '30m' });
    const posted = await httpCall(
      gw.port,
      'POST',
      '/api/prewarm',
      { ...admin, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      30_000,
      body,
    );
    if (posted.status === 404 || posted.status === 405) {
      sampler.stop();
      result.prewarm = { skipped: `this gateway has no POST /api/prewarm (answered ${posted.status})` };
      return result;
    }
    let job;
    try {
      job = JSON.parse(posted.body);
    } catch {}
    if (posted.status !== 202 || !job?.id) throw new Error(`POST /api/prewarm answered ${posted.status}: ${posted.body.slice(0, 300)}`);
    const readyAt = new Map();
    const jobStates = [job.state];
    let polls = 0;
    let last = job;
    const pollDeadline = nowMs() + 360_000;
    for (;;) {
      // The gateway's own readyAt when it gives one (same machine, same clock), else when the poll first saw the user ready.
      for (const u of last.users ?? [])
        if (u.state === 'ready' && !readyAt.has(u.user)) readyAt.set(u.user, u.readyAt ? Date.parse(u.readyAt) - postedAtWall : nowMs() - t0);
      const busy = (last.users ?? []).filter((u) => u.state === 'pending' || u.state === 'starting').length;
      if (busy === 0 || last.state === 'finished' || last.state === 'cancelled' || nowMs() > pollDeadline) break;
      await sleep(250);
      const res = await httpCall(gw.port, 'GET', `/api/prewarm/${encodeURIComponent(job.id)}`, admin, 30_000);
      polls++;
      if (res.status !== 200) throw new Error(`GET /api/prewarm/${job.id} answered ${res.status}: ${res.body.slice(0, 300)}`);
      last = JSON.parse(res.body);
      if (jobStates.at(-1) !== last.state) jobStates.push(last.state);
    }
    const doneMs = nowMs() - t0;
    const prewarmCpu = await window();
    const byState = {};
    for (const u of last.users ?? []) byState[u.state] = (byState[u.state] ?? 0) + 1;
    result.prewarm = {
      id: job.id,
      post_status: posted.status,
      job_states: jobStates,
      polls,
      users_by_state: byState,
      ready: byState.ready ?? 0,
      // Until the last user was ready; `settled_ms` is when the admin's poll saw no user pending or starting.
      all_ready_ms: (byState.ready ?? 0) === users ? Math.max(...readyAt.values()) : NaN,
      settled_ms: doneMs,
      ready_at_from: (last.users ?? []).some((u) => u.readyAt) ? 'the job (readyAt)' : 'the polls',
      start_at: last.startAt,
      timed_out: (last.users ?? []).some((u) => u.state === 'pending' || u.state === 'starting'),
      per_user: stats(roster.map((u) => readyAt.get(u) ?? NaN)),
      not_ready: (last.users ?? []).filter((u) => u.state !== 'ready').slice(0, 10),
      duplicate_containers: duplicatesOf(await containersPerUser(instance)),
      running_containers: await runningContainers(instance),
      gateway_cpu_s: (cpuTicks(gw.pid) - ticks0) / CLK_TCK,
      gateway_peak_rss_mib: sampler.stop() / MiB,
      ...prewarmCpu,
    };
    log(
      `lecture: pre-warm: ${result.prewarm.ready}/${users} ready after ${(doneMs / 1000).toFixed(1)} s (${JSON.stringify(byState)}); ${result.prewarm.running_containers} running`,
    );
    await sleep(2000);
    result.prewarm.gateway_rss_at_running_mib = gw.rssKiB() / MiB;
    result.prewarm.gateway_metrics = await gatewayMetrics(gw.port);

    // --- Pre-warmed: every student's first page load at the same moment.
    log(`lecture: ${users} first page loads at once on the pre-warmed workspaces …`);
    result.prewarmed = await loadsAtOnce(gw, instance, roster, tokens);
    result.prewarmed.duplicate_containers = duplicatesOf(await containersPerUser(instance));
  } finally {
    await gw?.stop().catch(() => {});
    if (gw && result.prewarm && !result.prewarm.skipped) result.prewarm.gateway_warnings = gatewayWarnings(gw.logFile);
    log('lecture: removing every container, volume and network of this run …');
    const tRemove = nowMs();
    await cleanup(instance).catch((err) => log(`lecture: cleanup failed (${err.message}); the exit hook tries again`));
    result.final_removal_ms = nowMs() - tRemove;
    const left = await docker.listContainers({ all: true, filters: { label: [`${INSTANCE_LABEL}=${instance}`] } }).catch(() => []);
    result.left_behind_containers = left.length;
  }
  return result;
}
