// WebSocket figures: echo round-trip time through a target, and the memory
// each idle proxied WebSocket costs the proxy.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO } from './targets.mjs';
import { rssKiB, treeRssKiB } from './procstat.mjs';
import { nowMs, percentile, sleep } from './util.mjs';

// `ws` is already a dependency of the gateway.
const WebSocket = createRequire(join(REPO, 'package.json'))('ws');

function open(url, headers, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`${url}: HTTP ${res.statusCode} instead of a WebSocket`)));
    socket.once('error', reject);
  });
}

const wsUrl = (target) => `ws://127.0.0.1:${target.port}${target.prefix}/`;

/** `count` sequential round trips of a small message; latencies in ms. */
export async function echoRtt(target, headers, { count, warmup = 200, size = 32 }) {
  const socket = await open(wsUrl(target), headers);
  const payload = Buffer.alloc(size, 'r');
  const samples = [];
  try {
    for (let i = 0; i < warmup + count; i++) {
      const t0 = nowMs();
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${target.name}: no echo within 5 s`)), 5000);
        socket.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.send(payload);
      });
      if (i >= warmup) samples.push(nowMs() - t0);
    }
  } finally {
    socket.terminate();
  }
  return {
    target: target.name,
    count: samples.length,
    p50_ms: percentile(samples, 50),
    p90_ms: percentile(samples, 90),
    p99_ms: percentile(samples, 99),
    max_ms: Math.max(...samples),
  };
}

async function openMany(target, headers, count, batch = 100) {
  const sockets = [];
  let failed = 0;
  for (let i = 0; i < count; i += batch) {
    const results = await Promise.allSettled(Array.from({ length: Math.min(batch, count - i) }, () => open(wsUrl(target), headers)));
    for (const r of results) {
      if (r.status === 'fulfilled') sockets.push(r.value);
      else failed++;
    }
  }
  return { sockets, failed };
}

async function closeAll(sockets) {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => {
            s.terminate();
            resolve();
          }, 3000);
          s.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          s.close();
        }),
    ),
  );
}

/**
 * RSS the proxy (and the backend) grows by when `count` idle WebSockets are
 * open through it. A few sockets are opened and closed first so lazily built
 * code paths are not counted; the gateway gets a full GC before each reading
 * when it offers one (others cannot be asked, so their figure may include
 * garbage: a disadvantage for CHP, none for nginx).
 */
export async function idleSockets(target, backend, headers, { count, settleMs = 1500, gcGateway = true }) {
  const warm = await openMany(target, headers, 20);
  await closeAll(warm.sockets);
  await sleep(settleMs);
  if (gcGateway && target.gc) await target.gc();
  const proxyBefore = treeRssKiB(target.pids());
  const backendBefore = rssKiB(backend.pid);
  const { sockets, failed } = await openMany(target, headers, count);
  await sleep(settleMs);
  const proxyAfterNoGc = treeRssKiB(target.pids());
  if (gcGateway && target.gc) await target.gc();
  const proxyAfter = treeRssKiB(target.pids());
  const backendAfter = rssKiB(backend.pid);
  // Still open? A proxy that dropped idle sockets would look cheap.
  const stillOpen = sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
  await closeAll(sockets);
  return {
    target: target.name,
    opened: sockets.length,
    failed,
    still_open: stillOpen,
    proxy_rss_before_kib: proxyBefore,
    proxy_rss_after_kib: proxyAfter,
    kib_per_socket: sockets.length ? (proxyAfter - proxyBefore) / sockets.length : NaN,
    // Same, read before the GC (what a proxy that cannot be asked to collect shows).
    kib_per_socket_no_gc: sockets.length ? (proxyAfterNoGc - proxyBefore) / sockets.length : NaN,
    gc: Boolean(gcGateway && target.gc),
    backend_kib_per_socket: sockets.length ? (backendAfter - backendBefore) / sockets.length : NaN,
  };
}
