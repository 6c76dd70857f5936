import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupInstance, demoImage, dockerCli, requireEngine, uniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { builtGateway } from '../support/gateway-build.js';
import { pageLoad, SECRET, token } from '../support/gateway.js';
import { call, visit, freePort } from '../support/http.js';

const scope = uniqueInstance('socket-leaks');
const STORM_MS = 6000;
const CLIENTS = 500;

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function rssMiB(pid: number): number {
  const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
  return (pages * 4096) / 1024 / 1024;
}

/**
 * The gateway's live heap after a full collection, through its inspector: RSS
 * alone swings by tens of MiB with V8's lazy collection, a leak does not go away.
 */
class HeapProbe {
  private id = 0;
  private constructor(private readonly socket: WebSocket) {}

  static async attach(child: ChildProcess): Promise<HeapProbe> {
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const match = /Debugger listening on (ws:\/\/\S+)/.exec(seen);
        if (match) resolve(match[1]!);
      });
      child.once('exit', () => reject(new Error(`gateway exited: ${seen}`)));
    });
    const socket = new WebSocket(url);
    await new Promise((ok, fail) => socket.once('open', ok).once('error', fail));
    return new HeapProbe(socket);
  }

  private send(method: string): Promise<Record<string, number>> {
    const id = ++this.id;
    return new Promise((resolve) => {
      const onMessage = (data: Buffer) => {
        const message = JSON.parse(data.toString());
        if (message.id !== id) return;
        this.socket.off('message', onMessage);
        resolve(message.result);
      };
      this.socket.on('message', onMessage);
      this.socket.send(JSON.stringify({ id, method }));
    });
  }

  async liveHeapMiB(): Promise<number> {
    await this.send('HeapProfiler.collectGarbage');
    return (await this.send('Runtime.getHeapUsage')).usedSize! / 1024 / 1024;
  }

  close(): void {
    this.socket.close();
  }
}

/** One client that keeps reconnecting until `until`; resolves with how it was answered each time. */
async function reconnectingClient(url: string, jwt: string, until: number, statuses: Map<number | string, number>): Promise<void> {
  while (Date.now() < until) {
    const status = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(url, { headers: { cookie: `workspace_token=${jwt}` } });
      ws.once('open', () => {
        ws.terminate();
        resolve('open');
      });
      ws.once('unexpected-response', (req, res) => {
        res.resume();
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      ws.once('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? 'error'));
    });
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
}

describe('no socket or memory leaks under reconnect storms (gateway in its own process)', () => {
  let gateway: ChildProcess;
  let heap: HeapProbe;
  let base: string;

  beforeAll(async () => {
    await requireEngine();
    const image = await demoImage();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gateway = spawn(process.execPath, ['--inspect=127.0.0.1:0', await builtGateway()], {
      env: {
        ...process.env,
        ...dockerEnv(scope, image),
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_PORT: String(port),
        GATEWAY_JWT_SECRET: SECRET,
        GATEWAY_LOG_LEVEL: 'warn',
        // Hundreds of sockets of one user from one address are the point here, not an attack.
        GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '0',
        GATEWAY_MAX_WEBSOCKETS_PER_USER: '0',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    heap = await HeapProbe.attach(gateway);
    for (let i = 0; i < 100; i++) {
      if ((await call(`${base}/healthz`).catch(() => undefined))?.status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('gateway did not start');
  });

  afterAll(async () => {
    heap?.close();
    gateway?.kill('SIGTERM');
    await cleanupInstance(scope.instance);
  });

  it(`${CLIENTS} clients reconnecting to a stopped workspace leave descriptors and memory where they were`, async () => {
    const jwt = await token('sleepy');
    expect((await visit(`${base}/ws/sleepy/`, { headers: pageLoad(jwt) })).status).toBe(200);
    const [container] = await containersOf(scope.instance, 'sleepy');
    expect((await dockerCli(['stop', '-t', '2', container!.Id])).code).toBe(0);
    const url = `${base.replace('http', 'ws')}/ws/sleepy/socket`;

    // A first storm grows the heap to its working size (JIT, pools, young generation);
    // a leak shows as further growth in the second, measured one.
    const warm = new Map<number | string, number>();
    const warmUntil = Date.now() + 3000;
    await Promise.all(Array.from({ length: CLIENTS }, () => reconnectingClient(url, jwt, warmUntil, warm)));
    await new Promise((r) => setTimeout(r, 1500));
    const fdBefore = fdCount(gateway.pid!);
    const rssBefore = rssMiB(gateway.pid!);
    const heapBefore = await heap.liveHeapMiB();

    const statuses = new Map<number | string, number>();
    const until = Date.now() + STORM_MS;
    await Promise.all(Array.from({ length: CLIENTS }, () => reconnectingClient(url, jwt, until, statuses)));
    // Refused upgrades are destroyed at the latest a second after their answer.
    await new Promise((r) => setTimeout(r, 1500));

    const attempts = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(statuses.get(503)).toBe(attempts); // every attempt: the fast 503, never a wake
    expect(attempts).toBeGreaterThan(CLIENTS);
    expect(await containersOf(scope.instance, 'sleepy')).toMatchObject([{ State: 'exited' }]);
    const fdAfter = fdCount(gateway.pid!);
    const rssAfter = rssMiB(gateway.pid!);
    const heapAfter = await heap.liveHeapMiB();
    console.log(
      `reconnect storm: ${attempts} attempts; fds ${fdBefore} → ${fdAfter}; ` +
        `live heap ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB; RSS ${rssBefore.toFixed(1)} → ${rssAfter.toFixed(1)} MiB`,
    );
    expect(fdAfter).toBeLessThanOrEqual(fdBefore + 5);
    // 100 bytes an attempt would already be 2 MiB here.
    expect(heapAfter - heapBefore).toBeLessThan(2);
    // RSS swings with the allocator; a leak of any size that matters would still show.
    expect(rssAfter - rssBefore).toBeLessThan(64);
  });

  it('open WebSockets of a workspace that stops are closed on both sides', async () => {
    const jwt = await token('busy');
    expect((await visit(`${base}/ws/busy/`, { headers: pageLoad(jwt) })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    const fdBefore = fdCount(gateway.pid!);
    const sockets = await Promise.all(
      Array.from(
        { length: 200 },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/busy/socket`, { headers: { cookie: `workspace_token=${jwt}` } });
            ws.once('open', () => resolve(ws));
            ws.once('error', reject);
          }),
      ),
    );
    // Each proxied WebSocket holds two descriptors in the gateway: client side and workspace side.
    expect(fdCount(gateway.pid!)).toBeGreaterThanOrEqual(fdBefore + 400);
    const closed = sockets.map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
    const [container] = await containersOf(scope.instance, 'busy');
    expect((await dockerCli(['stop', '-t', '2', container!.Id])).code).toBe(0);
    await Promise.all(closed);
    await new Promise((r) => setTimeout(r, 1500));
    expect(fdCount(gateway.pid!)).toBeLessThanOrEqual(fdBefore + 5);
  });
});
