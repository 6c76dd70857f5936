import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cleanupInstance, demoImage, requireEngine, uniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { builtGateway } from '../support/gateway-build.js';
import { openWebSocket, pageLoad, roundTrip, scriptRequest, SECRET, token } from '../support/gateway.js';
import { call, freePort, visit } from '../support/http.js';

const scope = uniqueInstance('cluster');

/** The processes the cluster's leader forked (its workers). */
function workersOf(leader: number): number[] {
  const children = readFileSync(`/proc/${leader}/task/${leader}/children`, 'utf8').trim();
  return children ? children.split(/\s+/).map(Number) : [];
}

const SOON = { timeout: 10_000, interval: 100 };

/**
 * `GATEWAY_WORKERS=2` as an operator runs it (`node dist/main.js`) on the
 * real engine: a leader that spawns and stops, two workers that proxy.
 */
describe('cluster: a leader and workers on one port', () => {
  let leader: ChildProcess;
  let base: string;
  let log = '';

  beforeAll(async () => {
    await requireEngine();
    const image = await demoImage();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    leader = spawn(process.execPath, [await builtGateway()], {
      env: {
        ...process.env,
        ...dockerEnv(scope, image),
        GATEWAY_WORKERS: '2',
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_PORT: String(port),
        GATEWAY_JWT_SECRET: SECRET,
        GATEWAY_LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    leader.stdout!.on('data', (c: Buffer) => (log += c));
    leader.stderr!.on('data', (c: Buffer) => (log += c));
    const health = () =>
      call(`${base}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
    await vi.waitFor(async () => expect(await health(), `cluster did not start:\n${log}`).toBe(200), SOON);
  });

  afterAll(async () => {
    if (leader?.exitCode === null) {
      leader.kill('SIGTERM');
      await new Promise((r) => leader.once('exit', r));
    }
    await cleanupInstance(scope.instance);
  });

  it('spawns through the leader, proxies through the workers, and counts both in /metrics', async () => {
    expect(workersOf(leader.pid!)).toHaveLength(2);
    const jwt = await token('carol');
    expect((await visit(`${base}/ws/carol/`, { headers: pageLoad(jwt) })).status).toBe(200);
    expect(await containersOf(scope.instance, 'carol')).toHaveLength(1);
    // The leader tells the workers about the new workspace within 100 ms; until then it serves it itself.
    await vi.waitFor(async () => {
      await call(`${base}/ws/carol/__probe`, { headers: scriptRequest(jwt) });
      expect(log.split('\n').some((l) => l.includes('"path":"/ws/carol/__probe"') && l.includes('"worker":'))).toBe(true);
    }, SOON);

    // The client's own claims about its address are not believed, by workers or leader.
    const lies = { 'x-workspace-gateway-peer': '10.9.9.9', 'x-forwarded-for': '10.8.8.8' };
    const answers = await Promise.all(Array.from({ length: 40 }, () => call(`${base}/ws/carol/__echo`, { headers: scriptRequest(jwt, lies) })));
    for (const res of answers) {
      expect(res.status).toBe(200);
      const seen = (await res.json()).headers;
      expect(seen['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen['x-workspace-gateway-peer']).toBeUndefined();
      expect(seen.cookie).toBeUndefined();
    }
    // At debug level each process logs the requests it forwarded: the workers took these, not the leader.
    const forwardedLines = () => log.split('\n').filter((l) => l.includes('"path":"/ws/carol/__echo"'));
    await vi.waitFor(() => expect(forwardedLines().length).toBeGreaterThanOrEqual(40), SOON);
    const forwarded = forwardedLines().map((l) => JSON.parse(l) as { worker?: number });
    expect(forwarded).toHaveLength(40);
    expect(new Set(forwarded.map((l) => l.worker))).toEqual(new Set([1, 2]));
    const metrics = await (await call(`${base}/metrics`)).text();
    expect(Number(/^workspace_gateway_proxied_requests_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(41);
    expect(metrics).toMatch(/^workspace_gateway_workspaces\{state="running"\} 1$/m);
    // Activity seen by the workers reaches the leader's idle rule.
    await vi.waitFor(async () => {
      const status = (await (await call(`${base}/api/workspaces/me`, { headers: scriptRequest(jwt) })).json()) as { lastActivity: string | null };
      expect(Date.now() - Date.parse(status.lastActivity!)).toBeLessThan(5000);
    }, SOON);
  });

  it('closes the WebSockets a worker holds when the leader stops the workspace, and proxies nothing to it after', async () => {
    const jwt = await token('dave');
    expect((await visit(`${base}/ws/dave/`, { headers: pageLoad(jwt) })).status).toBe(200);
    // Once the workers know the endpoint, several sockets spread over them.
    await new Promise((r) => setTimeout(r, 300));
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 4; i++) {
      const { socket } = await openWebSocket(`${base.replace('http', 'ws')}/ws/dave/`, { cookie: `workspace_token=${jwt}` });
      expect((await roundTrip(socket!, `hello ${i}`)).data.toString()).toBe(`hello ${i}`);
      sockets.push(socket!);
    }
    const closes = sockets.map((s) => new Promise<number>((r) => s.once('close', (code) => r(code))));
    const stop = await call(`${base}/api/workspaces/dave/stop`, { method: 'POST', headers: scriptRequest(jwt) });
    expect(stop.status).toBeLessThan(300);
    expect(await Promise.all(closes)).toEqual([1001, 1001, 1001, 1001]);
    const after = await call(`${base}/ws/dave/__echo`, { headers: scriptRequest(jwt, { accept: 'application/json' }) });
    expect(after.status).toBe(503);
  });

  it('replaces a worker that dies and keeps serving meanwhile', async () => {
    const jwt = await token('carol');
    const [victim, survivor] = workersOf(leader.pid!);
    process.kill(victim!, 'SIGKILL');
    // (A connection the cluster module hands to a worker in the instant it dies is lost with it:
    // Node's cluster has no way back for it. Once the leader has seen the death, none goes there.)
    await vi.waitFor(() => expect(log).toContain('gateway worker died; starting another'), SOON);
    for (let i = 0; i < 20; i++) expect((await call(`${base}/ws/carol/__echo`, { headers: scriptRequest(jwt) })).status).toBe(200);
    const workers = await vi.waitFor(() => {
      const now = workersOf(leader.pid!);
      expect(now).toHaveLength(2);
      expect(now).not.toContain(victim);
      return now;
    }, SOON);
    expect(workers).toContain(survivor);
    expect(workers).toHaveLength(2);
  });

  it('stops leader and workers on SIGTERM and leaves the workspaces running', async () => {
    const workers = workersOf(leader.pid!);
    leader.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => leader.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
    const [container] = await containersOf(scope.instance, 'carol');
    expect(container?.State).toBe('running');
  });
});
