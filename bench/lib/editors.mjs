// The editors part: a lecture hall's open editors through the gateway and
// directly, in one run. N simulated code-server tabs (bench/editors-client.mjs,
// a process of its own), each with two compressed WebSockets sending what a
// real tab sends, a share of them typing, talk to a stand-in for code-server's
// WebSocket server (bench/editors-backend.mjs) that answers every message at
// once: directly, and through one gateway in its own process, in interleaved
// rounds. Per target and N: messages per second, each message's round trip
// until the reply that acknowledges it, the target's CPU and memory per editor,
// the client's CPU and the bytes on the wire.
import { signToken } from './engine.mjs';
import { CLK_TCK, machineTicks, othersShare, treeRssKiB, treeTicks } from './procstat.mjs';
import { startGateway, startScript } from './targets.mjs';
import { ask, freePort, median, nowMs, sleep, stopChild } from './util.mjs';

/** Editors whose sockets are opened at once (two sockets each). */
const OPEN_BATCH = 50;
const RTT_GROUPS = ['all', 'keepalive', 'typing', 'edit', 'terminal', 'telemetry'];

/** CPU ticks of each group of processes and of the machine, now. */
function cpuSnapshot(groups) {
  const ticks = Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, treeTicks(pids)]));
  return { at: nowMs(), machine: machineTicks(), ticks };
}

/**
 * Each group's CPU since `before` in cores (1 = one core busy), and the share
 * of the machine the processes outside the groups used (other sessions' work;
 * softirq time, the loopback network, is not counted as theirs).
 */
function cpuSince(before, groups) {
  const now = cpuSnapshot(groups);
  const seconds = (now.at - before.at) / 1000;
  const used = Object.fromEntries(Object.keys(groups).map((name) => [name, now.ticks[name] - before.ticks[name]]));
  const ours = Object.values(used).reduce((a, b) => a + b, 0);
  return {
    seconds,
    cores: Object.fromEntries(Object.entries(used).map(([name, ticks]) => [name, ticks / CLK_TCK / seconds])),
    others_cpu_share: othersShare(before.machine, now.machine, ours),
  };
}

/**
 * One round against one target: open N editors and read the target's memory
 * (after a full GC, as before they opened), let them send for the warm-up,
 * measure for `seconds`, read its memory again with the editors still open
 * after the traffic, and close them.
 */
async function editorsRound(target, { n, typing, users, tokens, backend, client, seconds, warmupSeconds, busyLimit }) {
  await ask(backend, 'reset', 'reset');
  await target.gc();
  const rssBefore = treeRssKiB(target.pids());
  const opened = await ask(
    client,
    { open: { port: target.port, prefixed: target.prefixed, users: users.slice(0, n), tokens: tokens.slice(0, n), typing, batch: OPEN_BATCH } },
    'opened',
    300_000,
  );
  try {
    if (opened.editors === 0) throw new Error(`no editor could open its sockets through ${target.name}: ${opened.first_error}`);
    // What the open editors cost before they send: under traffic V8's young generation grows to
    // its bound (16 MiB) and keeps it, which is no cost per editor.
    await target.gc();
    const rssOpen = treeRssKiB(target.pids());
    await ask(client, 'start', 'started');
    await sleep(warmupSeconds * 1000);
    // Direct: the target is the backend, counted once.
    const groups = { target: target.pids(), client: [client.pid], bench: [process.pid], ...(target.name !== 'direct' && { backend: [backend.pid] }) };
    const before = cpuSnapshot(groups);
    await ask(client, 'measure', 'measuring');
    await sleep(seconds * 1000);
    const cpu = cpuSince(before, groups);
    const window = await ask(client, 'stop', 'stopped');
    await target.gc();
    const rss = treeRssKiB(target.pids());
    const upstream = await ask(backend, 'stats', 'stats');
    return {
      target: target.name,
      editors: n,
      typing,
      opened,
      upstream: { sockets: upstream.open, deflate: upstream.deflate_open, offer: upstream.offer, answer: upstream.answer, received: upstream.received },
      window,
      cpu,
      busy: cpu.others_cpu_share > busyLimit,
      rss_before_kib: rssBefore,
      rss_open_kib: rssOpen,
      rss_kib: rss,
      kib_per_editor: (rssOpen - rssBefore) / opened.editors,
    };
  } finally {
    await ask(client, 'close', 'closed');
  }
}

/**
 * The editors part. `editors`: the N to run (each its own series of rounds);
 * `typingShare`: the share of editors typing. Returns every round and, per N,
 * each target's medians and the gateway's figures against direct.
 */
export async function editorsBench({ editors, typingShare, seconds, warmupSeconds, rounds, secret, work, busyLimit, log = console.error }) {
  const most = Math.max(...editors);
  // Every editor is its own student: the ids the bench's gateway knows after its first user (bench/gateway-entry.mjs).
  const users = Array.from({ length: most }, (_, i) => `user${String(i + 1).padStart(5, '0')}`);
  const tokens = await Promise.all(users.map((user) => signToken(secret, { user_id: user })));
  const backendPort = await freePort();
  const backend = await startScript(work, 'editors-backend', { env: { PORT: String(backendPort) }, nodeArgs: ['--expose-gc'] });
  const client = await startScript(work, 'editors-client');
  let gateway;
  try {
    gateway = await startGateway({ work, name: 'gateway-editors', backendPort, secret, known: most + 1, user: 'bench' });
    const targets = [
      { name: 'direct', port: backendPort, prefixed: false, pids: () => [backend.pid], gc: () => ask(backend, 'gc', 'gc') },
      { name: 'gateway', port: gateway.port, prefixed: true, pids: gateway.pids, gc: gateway.gc },
    ];
    const runs = [];
    for (const n of editors) {
      const typing = Math.round(n * typingShare);
      for (let round = 0; round < rounds; round++) {
        // Each round starts at the other target, so slow drift of the machine hits both.
        for (const target of round % 2 ? [...targets].reverse() : targets) {
          log(`editors: ${n} (${typing} typing) ${target.name === 'direct' ? 'directly' : `through the ${target.name}`}, round ${round + 1} …`);
          const r = await editorsRound(target, { n, typing, users, tokens, backend, client, seconds, warmupSeconds, busyLimit });
          runs.push({ round, ...r });
          log(
            `  ${r.opened.sockets}/${2 * n} sockets (${r.opened.deflate} compressed), ${Math.round(r.window.sent_per_s)} msg/s, ` +
              `RTT p50 ${Math.round(r.window.rtt.all.p50_ms * 1000)} µs p99 ${Math.round(r.window.rtt.all.p99_ms * 1000)} µs, ` +
              `${target.name} ${r.cpu.cores.target.toFixed(3)} cores, client ${r.cpu.cores.client.toFixed(3)} cores, ${r.kib_per_editor.toFixed(1)} KiB/editor` +
              `${r.window.lost ? `, ${r.window.lost} unanswered` : ''}${r.busy ? `, BUSY (others ${Math.round(r.cpu.others_cpu_share * 100)} %)` : ''}`,
          );
        }
      }
    }
    const summary = summarize(runs);
    return {
      editors,
      typing_share: typingShare,
      seconds,
      warmup_seconds: warmupSeconds,
      rounds,
      runs,
      summary,
      gateway: editors.map((n) => againstDirect(summary, n)),
    };
  } finally {
    await Promise.all([stopChild(client), gateway?.stop(), stopChild(backend)]);
  }
}

/** Per N and target: medians over the rounds (the clean ones, when a round was busy), counts summed, RSS at its highest. */
function summarize(runs) {
  const groups = new Map();
  for (const r of runs) {
    const key = `${r.editors}|${r.target}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  return [...groups.values()].map((rows) => {
    const clean = rows.filter((r) => !r.busy);
    const use = clean.length ? clean : rows;
    // A round without such messages has no percentile (null after IPC): left out.
    const m = (f) => median(use.map(f).filter(Number.isFinite));
    const sum = (f) => rows.reduce((total, r) => total + f(r), 0);
    const { editors, typing, target } = rows[0];
    return {
      editors,
      typing,
      target,
      rounds: rows.length,
      busy_rounds: rows.length - clean.length,
      sockets: Math.min(...rows.map((r) => r.opened.sockets)),
      deflate: Math.min(...rows.map((r) => r.opened.deflate)),
      no_context_takeover: Math.min(...rows.map((r) => r.opened.no_context_takeover)),
      upstream_deflate: Math.min(...rows.map((r) => r.upstream.deflate)),
      failed_editors: sum((r) => r.opened.failed_editors),
      unanswered: sum((r) => r.window.lost),
      dropped_sockets: sum((r) => r.window.dropped_sockets),
      sent_per_s: m((r) => r.window.sent_per_s),
      rtt: Object.fromEntries(
        RTT_GROUPS.map((g) => [
          g,
          { p50_ms: m((r) => r.window.rtt[g].p50_ms), p99_ms: m((r) => r.window.rtt[g].p99_ms), count: sum((r) => r.window.rtt[g].count) },
        ]),
      ),
      cores: m((r) => r.cpu.cores.target),
      client_cores: m((r) => r.cpu.cores.client),
      others_cpu_share: Math.max(...rows.map((r) => r.cpu.others_cpu_share)),
      kib_per_editor: m((r) => r.kib_per_editor),
      rss_kib: Math.max(...rows.map((r) => r.rss_kib)),
      bytes_out_per_s: m((r) => r.window.bytes_out_per_s),
      bytes_in_per_s: m((r) => r.window.bytes_in_per_s),
    };
  });
}

/**
 * The gateway at N editors against direct: the latency it adds, its CPU per
 * editor and per message, how many such editors one core carries (N / the
 * cores it used at N: a projection, stated with the p99 ratio measured at N),
 * its memory per editor and per socket.
 */
function againstDirect(summary, n) {
  const get = (target) => summary.find((s) => s.editors === n && s.target === target);
  const gw = get('gateway');
  const direct = get('direct');
  if (!gw || !direct) return { editors: n };
  const all = (s, p) => s.rtt.all[`${p}_ms`] * 1000;
  return {
    editors: n,
    typing: gw.typing,
    added_p50_us: all(gw, 'p50') - all(direct, 'p50'),
    added_p99_us: all(gw, 'p99') - all(direct, 'p99'),
    p50_ratio: all(gw, 'p50') / all(direct, 'p50'),
    p99_ratio: all(gw, 'p99') / all(direct, 'p99'),
    cores: gw.cores,
    cpu_us_per_editor_s: (gw.cores * 1e6) / n,
    core_pct_per_editor: (gw.cores * 100) / n,
    cpu_us_per_message: (gw.cores * 1e6) / gw.sent_per_s,
    editors_per_core: n / gw.cores,
    kib_per_editor: gw.kib_per_editor,
    kib_per_socket: gw.kib_per_editor / 2,
    rss_mib: gw.rss_kib / 1024,
  };
}
