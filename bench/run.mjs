#!/usr/bin/env node
// `npm run bench`: the gateway against the backend itself (direct), nginx and
// configurable-http-proxy, all on 127.0.0.1 in one run, in interleaved rounds;
// then a class's open editors (N simulated code-server tabs' WebSocket traffic,
// through the gateway and directly); then, when a Docker Engine answers, a
// spawn storm, sequential spawns, cold start and wake; then the lecture hall
// (200 first page loads at once, cold and pre-warmed); then, when the swarm
// test bed is up, a storm, cold start and wake on the swarm runtime. Prints
// the tables, writes the raw figures to bench/results/.
// See bench/README.md for every option and what each figure means.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { editorsBench } from './lib/editors.mjs';
import { engineAnswers, engineBench, engineVersion } from './lib/engine.mjs';
import { lectureBench } from './lib/lecture.mjs';
import { summarizeProfile } from './lib/profile.mjs';
import { readSwarmBed, swarmAnswers, swarmBench } from './lib/swarm.mjs';
import { treeRssKiB } from './lib/procstat.mjs';
import { BENCH_DIR, installChp, startBackend, startChp, startGateway, startNginx, startNodeRelay } from './lib/targets.mjs';
import { fmt, installExitHandlers, median, onExit, ratio, run, sleep, table } from './lib/util.mjs';
import { echoRtt, idleSockets } from './lib/ws-bench.mjs';
import { wrkRound } from './lib/wrk.mjs';

// ---------------------------------------------------------------------------
// Options: environment variables, a few of them also as flags.

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(readFileSync(join(BENCH_DIR, 'README.md'), 'utf8'));
  process.exit(0);
}
const env = process.env;
const flag = (name) => argv.includes(name);
const quick = flag('--quick') || env.BENCH_QUICK === '1';
const num = (name, fallback) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : fallback);
const PARTS = ['proxy', 'editors', 'engine', 'lecture', 'swarm'];
const only = (env.BENCH_ONLY ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
if (only.some((p) => !PARTS.includes(p))) {
  console.error(`BENCH_ONLY takes a comma-separated list of ${PARTS.join(', ')} (not ${env.BENCH_ONLY})`);
  process.exit(2);
}
/** Whether BENCH_ONLY (when set) selects this part. */
const selected = (part) => only.length === 0 || only.includes(part);

const opts = {
  quick,
  rounds: num('BENCH_ROUNDS', quick ? 1 : 3),
  seconds: num('BENCH_SECONDS', quick ? 2 : 4),
  warmupSeconds: num('BENCH_WARMUP_SECONDS', 1),
  threads: num('BENCH_THREADS', 2),
  connections: num('BENCH_CONNECTIONS', 50),
  targets: (env.BENCH_TARGETS ?? 'direct,gateway,nginx,chp')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  scale: num('BENCH_SCALE', 10_000),
  gatewayWorkers: num('BENCH_GATEWAY_WORKERS', 2),
  wsRoundTrips: num('BENCH_WS_ROUNDTRIPS', quick ? 500 : 2000),
  wsIdle: num('BENCH_WS_IDLE', 1000),
  wsSettleMs: num('BENCH_WS_SETTLE_MS', quick ? 700 : 1500),
  idleSettleSeconds: num('BENCH_IDLE_SECONDS', quick ? 10 : 30),
  busyLimit: num('BENCH_BUSY_LIMIT', 0.15),
  chpVersion: env.BENCH_CHP_VERSION ?? '5',
  nginxWorkers: num('BENCH_NGINX_WORKERS', 1),
  only,
  proxy: !(flag('--engine-only') || env.BENCH_PROXY === '0') && selected('proxy'),
  engine: flag('--no-engine') ? '0' : flag('--engine') ? '1' : (env.BENCH_ENGINE ?? 'auto'),
  stormUsers: Math.min(200, Math.max(1, num('BENCH_STORM_USERS', quick ? 10 : 50))),
  sequentialBudgetS: num('BENCH_SEQ_BUDGET', quick ? 4 : 30),
  coldReps: num('BENCH_COLD_REPS', quick ? 1 : 3),
  lecture: env.BENCH_LECTURE ?? 'auto',
  lectureUsers: Math.min(300, Math.max(1, num('BENCH_LECTURE_USERS', quick ? 20 : 200))),
  lecturePrewarm: env.BENCH_LECTURE_PREWARM ?? 'auto',
  swarm: env.BENCH_SWARM ?? 'auto',
  swarmStormUsers: Math.min(200, Math.max(1, num('BENCH_SWARM_STORM_USERS', quick ? 6 : 20))),
  profile: flag('--profile') || env.BENCH_PROFILE === '1',
  maxSeconds: num('BENCH_MAX_SECONDS', quick ? 360 : 1500),
  // The editors part: a list of N (0 skips the part), each at most 2,000.
  editors:
    selected('editors') && !flag('--engine-only')
      ? (env.BENCH_EDITORS || (quick ? '50' : '300'))
          .split(',')
          .map(Number)
          .filter((n) => n !== 0)
      : [],
  editorsTyping: num('BENCH_EDITORS_TYPING', 0.2),
  editorsSeconds: num('BENCH_EDITORS_SECONDS', quick ? 5 : 20),
  editorsWarmup: num('BENCH_EDITORS_WARMUP', quick ? 2 : 5),
  editorsRounds: num('BENCH_EDITORS_ROUNDS', quick ? 1 : 2),
};
if (opts.editors.some((n) => !Number.isInteger(n) || n < 1 || n > 2000)) {
  console.error(`BENCH_EDITORS takes a comma-separated list of editor counts from 1 to 2000, or 0 (not ${env.BENCH_EDITORS})`);
  process.exit(2);
}
for (const [name, value] of [
  ['BENCH_SWARM', opts.swarm],
  ['BENCH_LECTURE', opts.lecture],
  ['BENCH_LECTURE_PREWARM', opts.lecturePrewarm],
]) {
  if (!['auto', '0', '1'].includes(value)) {
    console.error(`${name} must be auto, 0 or 1 (not ${value})`);
    process.exit(2);
  }
}
installExitHandlers(opts.maxSeconds);

const t0 = Date.now();
const say = (msg) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
const out = [];
const print = (text = '') => {
  out.push(text);
  console.log(text);
};

const SECRET = `bench-${randomBytes(16).toString('hex')}`;
const USER = 'bench';
const jwt = await new SignJWT({ user_id: USER })
  .setProtectedHeader({ alg: 'HS256' })
  .setIssuedAt()
  .setExpirationTime('2h')
  .sign(new TextEncoder().encode(SECRET));
const cookieHeaders = { Cookie: `workspace_token=${jwt}` };
/** Filled once the gateway answered the token with its session cookie. */
let sessionHeaders = cookieHeaders;

const started = Date.now();
const results = { started_at: new Date(started).toISOString(), options: opts };
mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
const work = mkdtempSync(join(tmpdir(), 'workspace-gateway-bench-'));
onExit(() => rmSync(work, { recursive: true, force: true }));

// ---------------------------------------------------------------------------
// Machine facts.

async function firstLine(cmd, args) {
  const r = await run(cmd, args, { timeoutMs: 10_000 });
  return (r.stdout + r.stderr).trim().split('\n')[0] ?? '';
}

const machine = {
  date: new Date(started).toISOString(),
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  kernel: release(),
  memory_gib: +(totalmem() / 2 ** 30).toFixed(1),
  node: process.version,
  nginx: (await firstLine('nginx', ['-v'])).replace(/^nginx version:\s*/, ''),
  wrk: (await firstLine('wrk', ['--version']))
    .replace(/\s*\[.*$/, '')
    .replace(/Copyright.*$/, '')
    .trim(),
};
results.machine = machine;

/** Which gateway code was measured: a hash of every .js file under dist/ and the newest file's time (the tree changes under us). */
function buildFingerprint() {
  const dist = join(BENCH_DIR, '..', 'dist');
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, name.name);
      if (name.isDirectory()) walk(path);
      else if (name.name.endsWith('.js')) files.push(path);
    }
  };
  walk(dist);
  files.sort();
  const hash = createHash('sha256');
  let newest = 0;
  for (const f of files) {
    hash.update(f.slice(dist.length)).update(readFileSync(f));
    newest = Math.max(newest, statSync(f).mtimeMs);
  }
  return { dist_sha256: hash.digest('hex').slice(0, 12), dist_built_at: new Date(newest).toISOString(), files: files.length };
}
results.gateway_build = buildFingerprint();

// ---------------------------------------------------------------------------
// Proxy part.

const SCALE_NAME = `gateway ${fmt(opts.scale)} ws`;
const CLUSTER_NAME = `gateway ${opts.gatewayWorkers} workers`;

const SCENARIOS = [
  { name: '1 KiB GET', path: '/__bytes', bytes: 1024 },
  // The browser's case since gateway sessions: the session cookie the token's first answer set (the row above sends the LMS token each time).
  { name: '1 KiB GET (session)', path: '/__bytes', bytes: 1024, session: true },
  { name: '1 MiB GET', path: '/__bytes?size=1m', bytes: 1024 * 1024 },
];

async function check(target, path, bytes, headers = cookieHeaders) {
  const res = await fetch(`http://127.0.0.1:${target.port}${target.prefix}${path}`, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200 || body.length !== bytes)
    throw new Error(`${target.name}: GET ${path} answered ${res.status} with ${body.length} bytes (expected 200, ${bytes})`);
}

async function proxyPart() {
  const targets = {};
  say(`work folder ${work}`);
  const backend = await startBackend(work);
  targets.direct = backend;
  if (opts.targets.includes('gateway')) {
    targets.gateway = await startGateway({ work, name: 'gateway', backendPort: backend.port, secret: SECRET, known: 10, user: USER });
    if (opts.scale > 0) {
      targets['gateway-10k'] = await startGateway({ work, name: 'gateway-10k', backendPort: backend.port, secret: SECRET, known: opts.scale, user: USER });
      targets['gateway-10k'].name = SCALE_NAME;
    }
    if (opts.gatewayWorkers > 1) {
      targets['gateway-cluster'] = await startGateway({
        work,
        name: 'gateway-cluster',
        backendPort: backend.port,
        secret: SECRET,
        known: 10,
        user: USER,
        env: { GATEWAY_WORKERS: String(opts.gatewayWorkers) },
      });
      targets['gateway-cluster'].name = CLUSTER_NAME;
    }
  }
  if (opts.targets.includes('nginx')) targets.nginx = await startNginx({ work, backendPort: backend.port, workers: opts.nginxWorkers });
  if (opts.targets.includes('chp')) {
    const chp = await installChp(opts.chpVersion);
    machine.chp = chp.version;
    targets.chp = await startChp({ work, backendPort: backend.port, bin: chp.bin });
  }
  // Only in the echo rounds: what a relay written in Node reaches at all.
  const nodeRelay = await startNodeRelay({ work, backendPort: backend.port });
  const list = Object.values(targets).filter((t) => t === backend || opts.targets.some((n) => t.name.startsWith(n)));
  // The scale gateway joins the 1 KiB rounds only, the cluster both HTTP scenarios; the WebSocket figures are the single gateway's.
  const main = list.filter((t) => !t.name.startsWith('gateway '));
  const bigBodies = list.filter((t) => t.name !== SCALE_NAME);

  try {
    // Every target serves the bytes; the gateway really checks the cookie.
    for (const t of list) for (const s of SCENARIOS) await check(t, s.path, s.bytes);
    if (targets.gateway) {
      const anonymous = await fetch(`http://127.0.0.1:${targets.gateway.port}/ws/${USER}/__bytes`, { headers: { accept: 'application/json' } });
      await anonymous.arrayBuffer();
      if (anonymous.status !== 401) throw new Error(`the gateway answered ${anonymous.status} without a cookie; expected 401`);
      const first = await fetch(`http://127.0.0.1:${targets.gateway.port}/ws/${USER}/__bytes`, { headers: cookieHeaders });
      await first.arrayBuffer();
      const session = first.headers.get('set-cookie')?.split(';')[0];
      if (!session?.startsWith('workspace_session=')) throw new Error('the gateway set no session cookie for the token');
      sessionHeaders = { Cookie: session };
      await check(targets.gateway, '/__bytes', 1024, sessionHeaders);
    }

    // Idle memory, before any load (a Node heap that grew under load would hide new allocations).
    await sleep(1500);
    for (const t of list) if (t.gc) await t.gc();
    results.idle_rss_kib = Object.fromEntries(list.map((t) => [t.name, treeRssKiB(t.pids())]));
    // Again once the processes sat idle: V8's memory reducer runs some seconds after a GC in a quiet
    // process and gives back the young generation start-up grew, which a gateway waiting for its
    // first students holds no longer (no GC is asked for here; nginx and CHP are read the same way).
    say(`idle memory: ${opts.idleSettleSeconds} s without traffic …`);
    await sleep(opts.idleSettleSeconds * 1000);
    results.idle_settled_rss_kib = Object.fromEntries(list.map((t) => [t.name, treeRssKiB(t.pids())]));
    say('idle WebSockets …');
    results.ws_idle = [];
    for (const t of main) {
      try {
        const r = await idleSockets(t, backend, cookieHeaders, { count: opts.wsIdle, settleMs: opts.wsSettleMs });
        results.ws_idle.push(r);
        say(`  ${t.name}: ${fmt(r.kib_per_socket, 1)} KiB per idle WebSocket (${r.opened} open, ${r.failed} failed)`);
      } catch (err) {
        results.ws_idle.push({ target: t.name, error: err.message });
        say(`  ${t.name}: FAILED ${err.message}`);
      }
    }

    // Let the closing of the idle sockets (and the GC it causes) finish before timing echoes.
    await sleep(1000);
    say('WebSocket echo round trips …');
    results.ws_rtt = [];
    for (let round = 0; round < opts.rounds; round++) {
      for (const t of rotate([...main, nodeRelay], round)) {
        try {
          const r = await echoRtt(t, cookieHeaders, { count: opts.wsRoundTrips });
          results.ws_rtt.push({ round, ...r });
        } catch (err) {
          results.ws_rtt.push({ round, target: t.name, error: err.message });
          say(`  WS echo through ${t.name}: FAILED ${err.message}`);
        }
      }
    }

    say(`HTTP: warm-up, then ${opts.rounds} round(s) × ${opts.seconds} s per target and scenario (wrk -t${opts.threads} -c${opts.connections}) …`);
    const wrkOpts = { seconds: opts.seconds, threads: opts.threads, connections: opts.connections, headers: cookieHeaders, busyLimit: opts.busyLimit };
    for (const s of SCENARIOS) {
      for (const t of s.bytes === 1024 ? list : bigBodies) {
        await wrkRound(t, backend, { ...wrkOpts, headers: s.session ? sessionHeaders : cookieHeaders, path: s.path, seconds: opts.warmupSeconds }).catch(
          (err) => say(`  warm-up of ${t.name} failed: ${err.message.split('\n')[0]}`),
        );
      }
    }
    results.http = [];
    for (let round = 0; round < opts.rounds; round++) {
      for (const s of SCENARIOS) {
        for (const t of rotate(s.bytes === 1024 ? list : bigBodies, round)) {
          let r;
          try {
            r = await wrkRound(t, backend, { ...wrkOpts, headers: s.session ? sessionHeaders : cookieHeaders, path: s.path });
          } catch (err) {
            // wrk itself failed (the target refused connections): a stalled round with the reason.
            r = { target: t.name, requests: 0, errors: 1, error: err.message.slice(0, 500), busy: false };
          }
          if (r.requests === 0) {
            // Nothing completed (wrk's 10 s timeout is longer than the round, so hung requests count as nothing).
            r.stalled = true;
            r.answers_after = await answers(t);
          }
          results.http.push({ round, scenario: s.name, ...r });
          say(
            `  round ${round + 1} ${s.name.padEnd(9)} ${t.name.padEnd(17)} ${fmt(r.req_per_s).padStart(7)} req/s  p99 ${fmt(r.p99_ms, 2)} ms  ` +
              `${fmt(r.cpu_us_per_req)} µs/req${r.errors ? `  ${r.errors} errors` : ''}${r.busy ? `  BUSY (others ${fmt(r.other_cpu_share * 100)}%)` : ''}` +
              `${r.stalled ? `  STALLED: no request completed; a 1 KiB GET afterwards ${r.answers_after ? 'is answered' : 'is NOT answered'}` : ''}`,
          );
        }
      }
    }

    if (opts.profile && targets.gateway) results.profile = await profileGateway(backend, wrkOpts);
  } finally {
    for (const t of [...Object.values(targets), nodeRelay]) await t.stop();
  }
}

/** Whether the target answers a 1 KiB GET within 3 s. */
async function answers(target) {
  try {
    const res = await fetch(`http://127.0.0.1:${target.port}${target.prefix}/__bytes`, { headers: cookieHeaders, signal: AbortSignal.timeout(3000) });
    return res.status === 200 && (await res.arrayBuffer()).byteLength === 1024;
  } catch {
    return false;
  }
}

/** Round r starts at a different target, so no target always runs first or last. */
function rotate(list, r) {
  const k = r % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/** One extra gateway under --cpu-prof during a 1 KiB round (not one of the measured ones). */
async function profileGateway(backend, wrkOpts) {
  const dir = join(work, 'cpu-profile');
  mkdirSync(dir, { recursive: true });
  say('profiling one gateway (node --cpu-prof) during a 1 KiB round …');
  const g = await startGateway({
    work,
    name: 'gateway-profiled',
    backendPort: backend.port,
    secret: SECRET,
    known: 10,
    user: USER,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
  });
  await wrkRound(g, backend, { ...wrkOpts, path: '/__bytes', seconds: opts.warmupSeconds });
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const r = await wrkRound(g, backend, { ...wrkOpts, path: '/__bytes' });
  const toUs = Number(process.hrtime.bigint() / 1000n);
  await g.stop();
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!file) throw new Error('the profiled gateway wrote no .cpuprofile');
  const kept = join(BENCH_DIR, 'results', `${stamp}-gateway.cpuprofile`);
  copyFileSync(file, kept);
  return { ...summarizeProfile(file, 25, { fromUs, toUs }), file: kept, round: r };
}

// ---------------------------------------------------------------------------
// Summaries and tables.

function summarizeHttp() {
  const groups = new Map();
  for (const r of results.http ?? []) {
    const key = `${r.scenario}|${r.target}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const summary = [];
  for (const [key, rows] of groups) {
    const [scenario, target] = key.split('|');
    const done = rows.filter((r) => !r.stalled);
    const clean = done.filter((r) => !r.busy);
    const use = clean.length ? clean : done; // all stalled: no figures, only the count
    summary.push({
      scenario,
      target,
      rounds: rows.length,
      busy_rounds: rows.filter((r) => r.busy).length,
      req_per_s: median(use.map((r) => r.req_per_s)),
      p50_ms: median(use.map((r) => r.p50_ms)),
      p99_ms: median(use.map((r) => r.p99_ms)),
      cpu_us_per_req: median(use.map((r) => r.cpu_us_per_req)),
      cpu_cores: median(use.map((r) => r.cpu_cores)),
      cpu_sys_share: median(use.map((r) => r.cpu_sys_share)),
      rss_kib: Math.max(...rows.map((r) => r.rss_kib)),
      errors: rows.reduce((s, r) => s + r.errors, 0),
      stalled_rounds: rows.length - done.length,
      other_cpu_share: Math.max(...rows.map((r) => r.other_cpu_share)),
    });
  }
  return summary;
}

function printHttp(summary) {
  const byScenario = (s) => summary.filter((r) => r.scenario === s);
  const rows = [];
  for (const s of SCENARIOS) {
    const group = byScenario(s.name);
    const direct = group.find((r) => r.target === 'direct');
    for (const r of group) {
      rows.push([
        s.name,
        r.target,
        fmt(r.req_per_s),
        r.target === 'direct' ? '1.00×' : ratio(r.req_per_s, direct?.req_per_s),
        fmt(r.p50_ms, 2),
        fmt(r.p99_ms, 2),
        r.target === 'direct' ? '1.00×' : ratio(r.p99_ms, direct?.p99_ms),
        fmt(r.cpu_us_per_req),
        fmt(r.cpu_cores, 2),
        `${fmt(r.cpu_sys_share * 100)}%`,
        fmt(r.rss_kib / 1024, 1),
        `${r.errors ? fmt(r.errors) : '0'}${r.stalled_rounds ? ` +${r.stalled_rounds} STALLED` : ''}`,
        r.busy_rounds ? `${r.busy_rounds}/${r.rounds} !` : `0/${r.rounds}`,
      ]);
    }
  }
  print(
    table(
      ['scenario', 'target', 'req/s', '×direct', 'p50 ms', 'p99 ms', 'p99 ×direct', 'CPU µs/req', 'cores', 'kernel', 'RSS MiB', 'errors', 'busy rounds'],
      rows,
      { leftColumns: 2 },
    ),
  );
  print("CPU µs/req: the proxy's own CPU (all its processes) per completed request; for direct, the backend's. cores: that CPU / wall time;");
  print("kernel: the part of it spent in the kernel (stime: socket syscalls, and on loopback much of the receiver's network stack).");
  if (summary.some((r) => r.stalled_rounds))
    print('STALLED: rounds in which not one request completed (the target hung); left out of the medians, see the JSON.');
  print(
    `busy rounds: rounds where processes other than proxy, backend, wrk and the bench used > ${fmt(opts.busyLimit * 100)}% of the machine (left out of the medians when a clean round exists).`,
  );
  const lines = [];
  for (const s of SCENARIOS) {
    const g = byScenario(s.name);
    const get = (name) => g.find((r) => r.target === name);
    const gw = get('gateway');
    if (!gw) continue;
    const parts = [];
    for (const other of ['chp', 'nginx']) {
      const o = get(other);
      if (o)
        parts.push(
          `vs ${other}: req/s ${ratio(gw.req_per_s, o.req_per_s)}, CPU/req ${ratio(gw.cpu_us_per_req, o.cpu_us_per_req)}, p99 ${ratio(gw.p99_ms, o.p99_ms)}`,
        );
    }
    const big = get(SCALE_NAME);
    if (big)
      parts.push(
        `${big.target} vs 10 ws: req/s ${ratio(big.req_per_s, gw.req_per_s)}, CPU/req ${ratio(big.cpu_us_per_req, gw.cpu_us_per_req)}, p99 ${ratio(big.p99_ms, gw.p99_ms)}`,
      );
    if (parts.length) lines.push(`gateway, ${s.name}: ${parts.join('; ')}`);
    const cluster = get(CLUSTER_NAME);
    const chp = get('chp');
    const direct = get('direct');
    if (cluster && chp && direct) {
      lines.push(
        `${CLUSTER_NAME}, ${s.name}: vs chp: req/s ${ratio(cluster.req_per_s, chp.req_per_s)}; p99 vs direct ${ratio(cluster.p99_ms, direct.p99_ms)}; vs single gateway: req/s ${ratio(cluster.req_per_s, gw.req_per_s)}, CPU/req ${ratio(cluster.cpu_us_per_req, gw.cpu_us_per_req)}`,
      );
    }
  }
  for (const l of lines) print(l);
}

/** A reading in KiB as MiB with one decimal ('–' when there is none). */
const kibInMib = (kib) => fmt((kib ?? NaN) / 1024, 1);

function printWs() {
  const rtt = new Map();
  for (const r of results.ws_rtt ?? []) {
    if (!rtt.has(r.target)) rtt.set(r.target, []);
    rtt.get(r.target).push(r);
  }
  const rttSummary = [...rtt].map(([target, all]) => {
    const rows = all.filter((r) => !r.error);
    return { target, p50_ms: median(rows.map((r) => r.p50_ms)), p99_ms: median(rows.map((r) => r.p99_ms)), failed_rounds: all.length - rows.length };
  });
  results.ws_rtt_summary = rttSummary;
  const direct = rttSummary.find((r) => r.target === 'direct');
  const idle = new Map((results.ws_idle ?? []).map((r) => [r.target, r]));
  const rows = rttSummary.map((r) => {
    const i = idle.get(r.target);
    return [
      r.target,
      fmt(r.p50_ms * 1000),
      r.target === 'direct' ? '1.00×' : ratio(r.p50_ms, direct?.p50_ms),
      fmt(r.p99_ms * 1000),
      r.target === 'direct' ? '1.00×' : ratio(r.p99_ms, direct?.p99_ms),
      kibInMib(results.idle_rss_kib?.[r.target]),
      kibInMib(results.idle_settled_rss_kib?.[r.target]),
      i?.error ? 'FAILED' : i ? (i.gc ? `${fmt(i.kib_per_socket, 1)} (${fmt(i.kib_per_socket_no_gc, 1)})` : fmt(i.kib_per_socket, 1)) : '–',
      i && !i.error ? `${i.still_open}/${i.opened + i.failed}` : '–',
      r.failed_rounds ? `${r.failed_rounds} failed` : '',
    ];
  });
  print(
    table(
      [
        'target',
        'WS RTT p50 µs',
        '×direct',
        'p99 µs',
        '×direct',
        'RSS at start MiB',
        `RSS idle ${opts.idleSettleSeconds} s MiB`,
        'KiB per idle WS',
        'idle WS open',
        '',
      ],
      rows,
    ),
  );
  for (const e of [...(results.ws_idle ?? []), ...(results.ws_rtt ?? [])].filter((r) => r.error).slice(0, 4))
    print(`WebSocket failure through ${e.target}: ${e.error}`);
  print(
    `WS RTT: ${fmt(opts.wsRoundTrips)} sequential echoes of 32 bytes per round, median of ${opts.rounds} round(s). KiB per idle WS: RSS growth with ${fmt(opts.wsIdle)} idle`,
  );
  print("WebSockets open through the target (for direct: the backend's own growth); the gateway is read after a full GC, the figure without GC in brackets.");
  print(
    `RSS at start: 1.5 s after the checks, the gateway after a full GC; idle ${opts.idleSettleSeconds} s: the same processes after that long without traffic. node relay: ten lines of Node \`net\` (echo rounds only).`,
  );
  const big = Object.keys(results.idle_rss_kib ?? {}).find((name) => name.startsWith('gateway ') && !name.includes('workers'));
  if (big)
    print(
      `idle RSS of the gateway knowing ${big.replace(/^gateway /, '')}: ${kibInMib(results.idle_rss_kib[big])} MiB at start, ${kibInMib(results.idle_settled_rss_kib?.[big])} MiB idle ` +
        `(10 ws: ${kibInMib(results.idle_rss_kib.gateway)}, ${kibInMib(results.idle_settled_rss_kib?.gateway)} MiB)`,
    );
  const gw = rttSummary.find((r) => r.target === 'gateway');
  const against = ['nginx', 'node relay'].map((name) => [name, rttSummary.find((r) => r.target === name)]).filter(([, r]) => r);
  if (gw && against.length) print(`WS RTT p50 of the gateway against ${against.map(([name, r]) => `${name}: ${ratio(gw.p50_ms, r.p50_ms)}`).join(', ')}.`);
}

const s = (ms) => (Number.isFinite(ms) ? `${fmt(ms / 1000, 2)} s` : '–');
const msf = (ms) => (Number.isFinite(ms) ? `${fmt(ms)} ms` : '–');

function printEngine(e) {
  print(`image ${e.image}, GATEWAY_MAX_CONCURRENT_SPAWNS=${e.max_concurrent_spawns}, GATEWAY_MAX_RUNNING=${e.max_running}, engine ${machine.docker}`);
  const st = e.storm;
  const sq = e.sequential;
  // The columns both spawn rows share: per-user times, engine time and the counts.
  const spawnFigures = (x) => [
    s(x.per_user.p50_ms),
    s(x.per_user.p95_ms),
    s(x.per_user.max_ms),
    s(x.engine_start.p50_ms),
    String(x.duplicate_containers),
    String(x.error_responses),
    String(x.capacity_responses),
  ];
  const rows = [
    [`storm (all at once)`, `${st.ready}/${st.users}`, s(st.all_ready_ms), ...spawnFigures(st), String(st.peak_concurrent_starts)],
    [
      `sequential`,
      `${sq.ready}/${sq.users_attempted}${sq.users_attempted < st.users ? ` of ${st.users}` : ''}`,
      Number.isFinite(sq.all_ready_ms) ? s(sq.all_ready_ms) : `${s(sq.elapsed_ms)} (≈${s(sq.projected_all_ms)} for ${st.users})`,
      ...spawnFigures(sq),
      '1',
    ],
  ];
  print(
    table(
      [
        'spawns',
        'ready',
        'all ready after',
        'p50/user',
        'p95/user',
        'max/user',
        'engine start() p50',
        'dup containers',
        'errors',
        'capacity 503',
        'peak starts',
      ],
      rows,
    ),
  );
  const seqAll = Number.isFinite(sq.all_ready_ms) ? sq.all_ready_ms : sq.projected_all_ms;
  print(
    `concurrency buys ${ratio(seqAll, st.all_ready_ms, 1)} (sequential time for ${st.users} users / storm time until all ready); starting pages served in the storm: ${fmt(st.starting_pages)}`,
  );
  print();
  const cw = [];
  for (const [label, m, runs] of [
    ['cold start (create+start+ready)', e.cold_median, e.cold],
    ['wake (start+ready after stop)', e.wake_median, e.wake],
  ]) {
    cw.push([
      label,
      msf(m.total_ms),
      msf(m.engine_start_ms),
      msf(m.overhead_ms),
      msf(m.before_engine_ms),
      msf(m.after_start_ms),
      msf(m.editor_boot_ms),
      msf(m.noticed_after_ms),
      String(runs.length),
    ]);
  }
  print(
    table(
      ['one user (median)', 'total', 'engine start()', 'gateway overhead', 'before start()', 'after start()', '…editor boot', '…noticed after', 'runs'],
      cw,
    ),
  );
  print('engine start(): time inside runtime.start (engine create/start calls until it reports running). gateway overhead = total - engine start() =');
  print('before start() (auth, engine inspect) + after start(), which is the editor booting in the container (until its "listening" log line,');
  print('engine timestamps) and the gateway noticing it (readiness poll every 50 ms, growing ×1.5) and answering.');
  if (e.storm.errors?.length) print(`storm errors (first ${e.storm.errors.length}): ${JSON.stringify(e.storm.errors.slice(0, 5))}`);
}

function printProfile(p) {
  print(
    `gateway under --cpu-prof, one 1 KiB round: ${fmt(p.round.req_per_s)} req/s, ${fmt(p.round.cpu_us_per_req)} µs/req, ${fmt(p.round.cpu_sys_share * 100)}% of it in the kernel ` +
      `(profiling adds overhead); samples of that round only: busy ${fmt(p.busy_ms)} ms of ${fmt(p.total_ms)} ms. Native functions (no url) include the syscalls they make.`,
  );
  print(
    table(
      ['area', 'self ms', 'share of busy'],
      p.areas.slice(0, 12).map((a) => [a.key, fmt(a.ms), `${fmt(a.share_of_busy * 100, 1)}%`]),
    ),
  );
  print();
  print(
    table(
      ['function (self time)', 'self ms', 'share of busy'],
      p.functions.slice(0, 20).map((f) => [f.key, fmt(f.ms), `${fmt(f.share_of_busy * 100, 1)}%`]),
    ),
  );
  print(`profile kept at ${p.file} (open it in Chrome DevTools → Performance, or speedscope)`);
}

/**
 * The lecture hall on the local Docker Engine: run when BENCH_LECTURE=1, or
 * with `auto` when the engine answers (and the engine part is not switched
 * off). A failure is recorded, not thrown, so the figures measured before it
 * are still printed; with BENCH_LECTURE=1 the bench then exits with 1.
 */
async function lecturePart() {
  if (!selected('lecture')) return { skipped: `not selected (BENCH_ONLY=${only.join(',')})`, unselected: true };
  if (opts.lecture === '0') return { skipped: 'disabled (BENCH_LECTURE=0)' };
  if (opts.lecture === 'auto' && opts.engine === '0') return { skipped: 'the engine part is disabled (BENCH_ENGINE=0; BENCH_LECTURE=1 runs it anyway)' };
  if (!(await engineAnswers())) {
    if (opts.lecture === '1') return { error: 'BENCH_LECTURE=1 but no Docker Engine answers at /var/run/docker.sock' };
    return { skipped: 'no Docker Engine answered at /var/run/docker.sock' };
  }
  machine.docker ??= await engineVersion();
  try {
    const r = await lectureBench({ users: opts.lectureUsers, secret: SECRET, work, prewarm: opts.lecturePrewarm, log: say });
    if (opts.lecturePrewarm === '1' && r.prewarm?.skipped) r.prewarm.error = `BENCH_LECTURE_PREWARM=1 but ${r.prewarm.skipped}`;
    return r;
  } catch (err) {
    say(`lecture: FAILED ${err.message}`);
    return { error: err.message };
  }
}

/** Milliseconds below a second, seconds above. */
const t = (ms) => (!Number.isFinite(ms) ? '–' : ms < 1000 ? `${fmt(ms)} ms` : `${fmt(ms / 1000, 2)} s`);
const mib = (v) => (Number.isFinite(v) ? `${fmt(v)} MiB` : '–');

function printLecture(l) {
  print(
    `Lecture hall: ${l.users} students, image ${l.image}, GATEWAY_MAX_CONCURRENT_SPAWNS=${l.max_concurrent_spawns}, GATEWAY_MAX_RUNNING=${l.max_running}, ` +
      `engine ${machine.docker}; the gateway is \`node dist/main.js\` (Docker runtime) in its own process`,
  );
  const c = l.cold;
  const r = l.running;
  const p = l.prewarm && !l.prewarm.skipped ? l.prewarm : undefined;
  const w = l.prewarmed;
  const per = (x) => [t(x.p50_ms), t(x.p95_ms), t(x.p99_ms), t(x.max_ms)];
  // The rest of the machine's CPU during the phase; `!` above BENCH_BUSY_LIMIT, as busy rounds are marked.
  // A phase under 2 s is a few hundred clock ticks: too short to tell.
  const others = (x) =>
    !(x.window_ms >= 2000) || !Number.isFinite(x.others_cpu_share)
      ? '–'
      : `${fmt(x.others_cpu_share * 100)} %${x.others_cpu_share > opts.busyLimit ? ' !' : ''}`;
  // A row of single page loads (one per student, all at once).
  const loads = (label, x, duplicates) => [
    label,
    `${x.ready}/${x.users}`,
    t(x.all_answered_ms),
    ...per(x.first_answer),
    duplicates,
    String(x.error_responses),
    String(x.capacity_responses),
    fmt(x.starting_pages),
    mib(x.gateway_rss_mib),
    others(x),
  ];
  const rows = [
    [
      'cold: first page loads at once',
      `${c.ready}/${c.users}`,
      t(c.all_ready_ms),
      ...per(c.per_user),
      String(c.duplicate_containers),
      String(c.error_responses),
      String(c.capacity_responses),
      fmt(c.starting_pages),
      mib(c.gateway_rss_at_running_mib),
      others(c),
    ],
    loads('running: page loads at once', r, '–'),
  ];
  if (p) {
    const notReady = Object.entries(p.users_by_state)
      .filter(([k]) => k !== 'ready')
      .reduce((sum, [, n]) => sum + n, 0);
    rows.push([
      'pre-warm: POST → all ready',
      `${p.ready}/${l.users}`,
      t(p.all_ready_ms),
      ...per(p.per_user),
      String(p.duplicate_containers),
      String(notReady),
      '–',
      '–',
      mib(p.gateway_rss_at_running_mib),
      others(p),
    ]);
  }
  if (w) rows.push(loads('pre-warmed: first page loads at once', w, String(w.duplicate_containers)));
  print(
    table(
      [
        'lecture hall',
        'ready',
        'all ready after',
        'p50/user',
        'p95/user',
        'p99/user',
        'max/user',
        'duplicates',
        'errors',
        'capacity 503',
        'starting pages',
        'gateway RSS',
        'others CPU',
      ],
      rows,
    ),
  );
  print('cold: every browser re-loads like the starting page until its own workspace answers (per user: until then). running / pre-warmed: one');
  print("page load per student, all at once, timed to the gateway's answer (it should be the workspace, never the starting page). pre-warm: from");
  print("POST /api/prewarm (readyBy now) until each user was ready (the job's readyAt, else the first GET /api/prewarm/<id> that showed it; polled");
  print('every 250 ms until none is pending or starting; errors: users not ready). errors elsewhere: answers other than the starting page, the own');
  print(`workspace or a capacity 503. gateway RSS: of its process at ${l.users} running (pre-warm: after the job), from /proc. others CPU: the`);
  print(
    `machine's CPU (both cores) used during the phase by other processes than the bench, the gateway, the engine (with the runc it runs), kernel threads and this run's`,
  );
  print(
    `containers: other sessions' work (a lower bound; – for phases under 2 s); \`!\` above ${fmt(opts.busyLimit * 100)} % (BENCH_BUSY_LIMIT): disturbed, run again.`,
  );
  const e0 = l.engine_before;
  const e1 = l.engine_at_running;
  const gm = c.gateway_metrics ?? {};
  print(
    `gateway: RSS idle ${mib(l.gateway_idle_rss_mib)}, peak in the cold storm ${mib(c.gateway_peak_rss_mib)}` +
      `${p ? `, peak in the pre-warm ${mib(p.gateway_peak_rss_mib)}` : ''}; at ${fmt(c.running_containers)} running its V8 heap holds ${mib(gm.heap_used_mib)} ` +
      `(of ${mib(gm.heap_total_mib)} allocated; external ${mib(gm.external_mib)}); CPU ${fmt(c.gateway_cpu_s, 1)} s for the cold storm` +
      `${p ? `, ${fmt(p.gateway_cpu_s, 1)} s for the pre-warm` : ''}; one spawn (start until the editor answered, ${l.max_concurrent_spawns} at a time) took ` +
      `${t(gm.spawn_mean_s * 1000)} on average${p?.gateway_metrics ? ` (pre-warm: ${t(p.gateway_metrics.spawn_mean_s * 1000)})` : ''}.`,
  );
  print(
    `machine: one demo workspace ≈ ${mib(l.fit.container_mib)} in its cgroup; MemAvailable fell ${mib(c.machine_mib_per_workspace)} per running workspace ` +
      `(container, shim, engine); the engine's processes (dockerd, containerd, shims: ${e1?.processes}) ${mib(e1?.pss_kib / 1024)} PSS at ${fmt(c.running_containers)} running ` +
      `(${mib(e0?.pss_kib / 1024)} before; RSS ${mib(e1?.rss_kib / 1024)} counts shared pages per shim); removing ${fmt(c.running_containers)} workspaces took ${t(l.removal_ms)}.`,
  );
  if (l.prewarm?.skipped) print(`pre-warm half skipped: ${l.prewarm.skipped}`);
  if (p?.not_ready?.length) print(`pre-warm users not ready (first ${p.not_ready.length}): ${JSON.stringify(p.not_ready.slice(0, 5))}`);
  if (c.errors?.length) print(`cold storm errors (first ${Math.min(5, c.errors.length)}): ${JSON.stringify(c.errors.slice(0, 5))}`);
  for (const [label, x] of [
    ['running', r],
    ['pre-warmed', w],
  ])
    if (x?.errors?.length) print(`${label} page load errors (first ${Math.min(5, x.errors.length)}): ${JSON.stringify(x.errors.slice(0, 5))}`);
  const warnings = [...(c.gateway_warnings ?? []), ...(p?.gateway_warnings ?? [])];
  if (warnings.length) print(`gateway warnings (first ${Math.min(5, warnings.length)}): ${JSON.stringify(warnings.slice(0, 5))}`);
  if (l.left_behind_containers) print(`lecture: ${l.left_behind_containers} containers left after clean-up (the exit hook tries again)`);
}

/**
 * The swarm runtime on the swarm test bed, after the docker figures: run when
 * BENCH_SWARM=1, or with `auto` when the bed is up (and the engine part is
 * not switched off). A failure is recorded, not thrown, so the figures
 * measured before it are still printed; with BENCH_SWARM=1 the bench then
 * exits with 1.
 */
async function swarmPart() {
  if (opts.swarm === '0') return { skipped: 'disabled (BENCH_SWARM=0)' };
  if (opts.swarm === 'auto' && opts.engine === '0') return { skipped: 'the engine part is disabled (BENCH_ENGINE=0; BENCH_SWARM=1 runs it anyway)' };
  const { bed, reason } = readSwarmBed();
  const answer = bed ? await swarmAnswers(bed) : { ok: false, reason };
  if (!answer.ok) {
    if (opts.swarm === '1') return { error: `BENCH_SWARM=1 but ${answer.reason}` };
    return { skipped: answer.reason };
  }
  machine.swarm = `${bed.nodes.length} nodes, docker ${answer.version}`;
  try {
    return await swarmBench({ bed, users: opts.swarmStormUsers, coldReps: opts.coldReps, secret: SECRET, log: say });
  } catch (err) {
    say(`swarm: FAILED ${err.message}`);
    return { error: err.message };
  }
}

/** The swarm runtime's storm, cold start and wake beside the docker runtime's of the same run. */
function printSwarm(e, sw) {
  const docker = e && !e.skipped ? e : undefined;
  const spreads =
    Object.entries(sw.storm.running_tasks_per_node)
      .map(([n, c]) => `${n}:${c}`)
      .join(' ') + (sw.storm.tasks_not_running ? ` +${sw.storm.tasks_not_running} not running` : '');
  print(
    `Swarm (${sw.nodes.length} nodes: ${sw.nodes.join(', ')}), engine ${machine.swarm?.replace(/^.*docker /, '')}, image ${sw.image}; the gateway in a container on the manager ` +
      `(answered /healthz after ${s(sw.gateway_container_ready_ms)}), GATEWAY_MAX_CONCURRENT_SPAWNS=${sw.max_concurrent_spawns}, GATEWAY_MAX_RUNNING=${sw.max_running}`,
  );
  const stormRow = (label, x, engine, dup, spread) => [
    label,
    `${x.ready}/${x.users}`,
    s(x.all_ready_ms),
    s(x.per_user.p50_ms),
    s(x.per_user.p95_ms),
    s(x.per_user.max_ms),
    s(engine),
    String(dup),
    String(x.error_responses),
    String(x.capacity_responses),
    spread,
  ];
  const rows = [];
  if (docker)
    rows.push(
      stormRow(`storm (docker, ${docker.storm.users} users)`, docker.storm, docker.storm.engine_start.p50_ms, docker.storm.duplicate_containers, '1 engine'),
    );
  rows.push(stormRow(`storm (swarm, ${sw.storm.users} users)`, sw.storm, sw.storm.until_running.p50_ms, sw.storm.duplicate_services, spreads));
  print(
    table(
      ['spawn storm', 'ready', 'all ready after', 'p50/user', 'p95/user', 'max/user', 'engine p50', 'duplicates', 'errors', 'capacity 503', 'tasks per node'],
      rows,
    ),
  );
  print();
  const cw = [];
  for (const [label, d, w, n] of [
    ['cold start', docker?.cold_median, sw.cold_median, sw.cold.length],
    ['wake', docker?.wake_median, sw.wake_median, sw.wake.length],
  ]) {
    if (d)
      cw.push([
        `${label} (docker)`,
        msf(d.total_ms),
        msf(d.engine_start_ms),
        msf(d.after_start_ms),
        msf(d.editor_boot_ms),
        msf(d.noticed_after_ms),
        String(docker.cold.length),
      ]);
    cw.push([
      `${label} (swarm)`,
      msf(w.total_ms),
      msf(w.until_running_ms),
      msf(w.after_running_ms),
      msf(w.editor_boot_ms),
      msf(w.noticed_after_ms),
      `${n}${sw.failed_runs?.length ? `/${opts.coldReps}` : ''} (${[...new Set(sw[label === 'wake' ? 'wake' : 'cold'].map((r) => r.node))].join(',')})`,
    ]);
  }
  print(table(['one user (median)', 'total', 'engine', 'after engine', '…editor boot', '…noticed after', 'runs (nodes)'], cw));
  print('engine: docker, the time inside runtime.start (in the gateway process); swarm, from the first request until the task is running');
  print("(the task's Status.Timestamp, read from the manager: user network + gateway join + service create/scale + scheduling + container");
  print(
    `start; cold start's task existed after ${msf(sw.cold_median.task_created_ms)}). after engine: the editor booting + the gateway noticing it and answering.`,
  );
  print(`duplicates: containers (docker) / services (swarm) per user beyond one. tasks per node: where the storm's workspaces ran.`);
  if (docker && docker.storm.users !== sw.storm.users)
    print(`The storms differ in size (BENCH_STORM_USERS, BENCH_SWARM_STORM_USERS); per-user and all-ready times grow with the users.`);
  if (sw.failed_runs?.length) print(`swarm cold start / wake runs that failed (left out of the medians): ${JSON.stringify(sw.failed_runs.slice(0, 3))}`);
  if (sw.storm.errors?.length) print(`swarm storm errors (first ${Math.min(5, sw.storm.errors.length)}): ${JSON.stringify(sw.storm.errors.slice(0, 5))}`);
  if (sw.node_events?.length) {
    print(
      `swarm nodes away during the run (other sessions' tests stop and start bed nodes; their workspaces die): ` +
        sw.node_events.map((e) => `${e.node} ${e.state} (${e.phase} +${e.after_s} s)`).join(', '),
    );
    if (sw.storm.node_events?.length) print('  the swarm storm figures above are disturbed by that; run again for clean ones.');
  }
  if (sw.storm.gateway_warnings?.length) print(`swarm gateway warnings: ${JSON.stringify(sw.storm.gateway_warnings.slice(0, 5))}`);
  const left = sw.left_behind ? Object.entries(sw.left_behind).filter(([, n]) => n > 0) : [['unknown (clean-up failed)', 1]];
  if (left.length) print(`swarm: left on the bed after clean-up: ${left.map(([k, n]) => `${n} ${k}`).join(', ')} (the exit hook tries again)`);
}

/** The editors part; a failure is recorded, not thrown, so the figures of the other parts are still printed (the bench then exits with 1). */
async function editorsPart() {
  try {
    return await editorsBench({
      editors: opts.editors,
      typingShare: opts.editorsTyping,
      seconds: opts.editorsSeconds,
      warmupSeconds: opts.editorsWarmup,
      rounds: opts.editorsRounds,
      secret: SECRET,
      work,
      busyLimit: opts.busyLimit,
      log: say,
    });
  } catch (err) {
    say(`editors: FAILED ${err.message}`);
    return { error: err.message };
  }
}

/** A signed difference in µs. */
const plusUs = (v) => (Number.isFinite(v) ? `${v < 0 ? '−' : '+'}${fmt(Math.abs(v))} µs` : '–');

function printEditors(e) {
  print(
    `Editors: N simulated code-server tabs (their own process), 2 WebSockets each, every message compressed; ${fmt(e.typing_share * 100)} % of them typing; ` +
      `the far end answers every message at once; ${e.rounds} interleaved round(s) × ${e.seconds} s after ${e.warmup_seconds} s of warm-up`,
  );
  const pair = (x) => `${fmt(x.p50_ms * 1000)} / ${fmt(x.p99_ms * 1000)}`;
  const rows = [];
  for (const n of e.editors) {
    const direct = e.summary.find((s) => s.editors === n && s.target === 'direct');
    for (const s of e.summary.filter((s) => s.editors === n)) {
      const rtt = (p) => `${fmt(s.rtt.all[p] * 1000)} (${s === direct ? '1.00×' : ratio(s.rtt.all[p], direct?.rtt.all[p])})`;
      rows.push([
        `${fmt(n)} (${fmt(s.typing)} typing)`,
        s.target,
        `${fmt(s.sockets)}/${fmt(2 * n)} (${fmt(s.deflate)})`,
        fmt(s.sent_per_s),
        rtt('p50_ms'),
        rtt('p99_ms'),
        pair(s.rtt.keepalive),
        pair(s.rtt.typing),
        fmt(s.cores, 3),
        fmt((s.cores * 1e6) / n, 1),
        fmt(s.kib_per_editor, 1),
        fmt(s.rss_kib / 1024, 1),
        fmt(s.client_cores, 2),
        `${fmt(s.bytes_out_per_s / 1024, 1)} / ${fmt(s.bytes_in_per_s / 1024, 1)}`,
        `${fmt(s.others_cpu_share * 100)} %${s.busy_rounds ? ` ! (${s.busy_rounds}/${s.rounds})` : ''}`,
      ]);
    }
  }
  print(
    table(
      [
        'editors',
        'target',
        'sockets (deflate)',
        'msg/s',
        'RTT p50 µs (×direct)',
        'p99 µs (×direct)',
        'keep-alive p50/p99 µs',
        'typing p50/p99 µs',
        'cores',
        'CPU µs/editor/s',
        'KiB/editor',
        'RSS MiB',
        'client cores',
        'wire KiB/s up/down',
        'others CPU',
      ],
      rows,
      { leftColumns: 2 },
    ),
  );
  print('msg/s: messages the editors sent; each but an Ack is answered at once by the far end, and RTT runs from the send to the reply acknowledging it');
  print("(typing: model changes and terminal keys); medians over rounds of each round's percentiles. cores: the target's CPU / wall time (direct: the");
  print('stand-in for code-server; gateway: its process alone). KiB/editor: RSS growth once the N editors opened, before they send, after a full GC;');
  print('RSS: with them open after the traffic, after a full GC. client cores: the editors process. wire: bytes the editors wrote / read.');
  print(`others CPU: the rest of the machine; \`!\` above ${fmt(opts.busyLimit * 100)} % (left out of the medians when a clean round exists).`);
  for (const g of e.gateway.filter((x) => Number.isFinite(x.cores))) {
    print(
      `gateway at ${fmt(g.editors)} editors (${fmt(g.typing)} typing): ${fmt(g.cpu_us_per_editor_s, 1)} µs of CPU per editor per second (${fmt(g.core_pct_per_editor, 4)} % of a core), ` +
        `${fmt(g.cpu_us_per_message, 1)} µs per message and its reply; adds ${plusUs(g.added_p50_us)} at p50 (${fmt(g.p50_ratio, 2)}× direct), ${plusUs(g.added_p99_us)} at p99 ` +
        `(${fmt(g.p99_ratio, 2)}×); ${fmt(g.kib_per_editor, 1)} KiB per editor (${fmt(g.kib_per_socket, 1)} per socket), RSS ${fmt(g.rss_mib, 1)} MiB.`,
    );
    print(
      `  one core carries ≈ ${fmt(g.editors_per_core)} such editors (${fmt(g.editors)} / ${fmt(g.cores, 3)} cores: a linear projection; goal ≥ 1,000); ` +
        `p99 measured at ${fmt(g.editors)}: ${fmt(g.p99_ratio, 2)}× direct, ${g.p99_ratio <= 2 ? 'within' : 'NOT within'} 2×.`,
    );
  }
  const within = e.gateway.filter((g) => g.p99_ratio <= 2).map((g) => g.editors);
  if (e.editors.length > 1)
    print(`largest N measured with p99 ≤ 2× direct: ${within.length ? fmt(Math.max(...within)) : 'none'} (of ${e.editors.map((n) => fmt(n)).join(', ')}).`);
  const gw = e.summary.find((s) => s.target === 'gateway');
  const direct = e.summary.find((s) => s.target === 'direct' && s.editors === gw?.editors);
  if (gw && direct)
    print(
      `compression: the gateway's 101 told ${fmt(gw.no_context_takeover)}/${fmt(gw.sockets)} sockets client_no_context_takeover, so each message is compressed on its own: ` +
        `the editors wrote ${ratio(gw.bytes_out_per_s, direct.bytes_out_per_s, 1)} the bytes they write directly (at ${fmt(gw.editors)} editors).`,
    );
  for (const s of e.summary.filter((x) => x.unanswered || x.dropped_sockets || x.failed_editors))
    print(
      `${s.target} at ${fmt(s.editors)}: ${fmt(s.failed_editors)} editors failed to open, ${fmt(s.unanswered)} messages unanswered, ${fmt(s.dropped_sockets)} sockets dropped (see the JSON).`,
    );
}

// ---------------------------------------------------------------------------

try {
  if (opts.proxy) await proxyPart();
  if (opts.editors.length) results.editors = await editorsPart();

  let engine = opts.engine;
  if (engine === 'auto') engine = (await engineAnswers()) ? '1' : '0';
  if (!selected('engine')) {
    results.engine = { skipped: `not selected (BENCH_ONLY=${only.join(',')})`, unselected: true };
  } else if (engine === '1') {
    if (!(await engineAnswers())) throw new Error('BENCH_ENGINE=1 but no Docker Engine answers at /var/run/docker.sock');
    machine.docker = await engineVersion();
    results.engine = await engineBench({
      users: opts.stormUsers,
      sequentialBudgetS: opts.sequentialBudgetS,
      coldReps: opts.coldReps,
      secret: SECRET,
      log: say,
    });
  } else {
    results.engine = { skipped: opts.engine === '0' ? 'disabled (BENCH_ENGINE=0 / --no-engine)' : 'no Docker Engine answered at /var/run/docker.sock' };
  }
  results.lecture = await lecturePart();
  results.swarm = selected('swarm') ? await swarmPart() : { skipped: `not selected (BENCH_ONLY=${only.join(',')})`, unselected: true };
} finally {
  rmSync(work, { recursive: true, force: true });
}

results.finished_at = new Date().toISOString();
results.duration_s = (Date.now() - started) / 1000;

print();
print(`workspace-gateway bench — ${machine.date}`);
print(
  `machine: ${machine.nproc} × ${machine.cpu}, ${machine.memory_gib} GiB, Linux ${machine.kernel}; node ${machine.node}, nginx ${machine.nginx}` +
    `${machine.chp ? `, configurable-http-proxy ${machine.chp}` : ''}, ${machine.wrk}${machine.docker ? `, docker ${machine.docker}` : ''}` +
    `${machine.swarm ? `, swarm bed ${machine.swarm}` : ''}`,
);
print(`gateway build: dist/ sha256 ${results.gateway_build.dist_sha256}, newest file ${results.gateway_build.dist_built_at}`);
if (opts.proxy)
  print(
    `load: wrk -t${opts.threads} -c${opts.connections}, ${opts.rounds} interleaved round(s) × ${opts.seconds} s; nginx ${opts.nginxWorkers} worker(s), keep-alive upstream; ` +
      `all on 127.0.0.1; gateway authenticated by cookie (the others get the same header)${opts.quick ? '; QUICK mode' : ''}`,
  );
if (opts.proxy) {
  print();
  results.http_summary = summarizeHttp();
  printHttp(results.http_summary);
  print();
  printWs();
  const gw = results.http_summary.find((r) => r.scenario === '1 KiB GET' && r.target === 'gateway');
  const ng = results.http_summary.find((r) => r.scenario === '1 KiB GET' && r.target === 'nginx');
  if (gw && ng && gw.cpu_us_per_req > 2 * ng.cpu_us_per_req && !results.profile) {
    print();
    print(
      `hint: the gateway spends ${ratio(gw.cpu_us_per_req, ng.cpu_us_per_req, 1)} nginx's CPU per 1 KiB request; BENCH_PROFILE=1 npm run bench profiles it and lists where the time goes.`,
    );
  }
}
if (results.editors) {
  print();
  if (results.editors.error) print(`editors part FAILED: ${results.editors.error}`);
  else printEditors(results.editors);
}
if (results.engine && !results.engine.skipped) {
  print();
  printEngine(results.engine);
} else if (results.engine?.skipped && !results.engine.unselected) {
  print();
  print(`engine part skipped: ${results.engine.skipped}`);
}
if (results.lecture && !results.lecture.skipped && !results.lecture.error) {
  print();
  printLecture(results.lecture);
} else if (results.lecture?.skipped && !results.lecture.unselected) {
  print();
  print(`lecture hall skipped: ${results.lecture.skipped}`);
} else if (results.lecture?.error) {
  print();
  print(`lecture hall FAILED: ${results.lecture.error}`);
}
if (results.swarm && !results.swarm.skipped && !results.swarm.error) {
  print();
  printSwarm(results.engine, results.swarm);
} else if (results.swarm?.skipped && !results.swarm.unselected) {
  print();
  print(`swarm part skipped: ${results.swarm.skipped}`);
} else if (results.swarm?.error) {
  print();
  print(`swarm part FAILED: ${results.swarm.error}`);
}
if (results.profile) {
  print();
  printProfile(results.profile);
}
const file = join(BENCH_DIR, 'results', `${stamp}.json`);
writeFileSync(
  file,
  JSON.stringify(results, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2),
);
writeFileSync(join(BENCH_DIR, 'results', `${stamp}.txt`), out.join('\n') + '\n');
print();
print(`raw results: ${file} (took ${fmt(results.duration_s)} s)`);
const failed =
  (results.swarm?.error && opts.swarm === '1') || (results.lecture?.error && opts.lecture === '1') || results.lecture?.prewarm?.error || results.editors?.error;
process.exit(failed ? 1 : 0);
