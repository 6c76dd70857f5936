import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeRuntime } from '../support/fake-runtime.js';
import { pageLoad, scriptRequest, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call, visit } from '../support/http.js';
import { createServer, type Server } from 'node:http';

/** Reads server-sent events until the stream ends; resolves with [event, data] pairs. */
function readEvents(url: string, jwt: string): Promise<Array<[string, unknown]>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { cookie: `workspace_token=${jwt}`, accept: 'text/event-stream' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () =>
        resolve(
          text
            .split('\n\n')
            .filter((block) => block.startsWith('event:'))
            .map((block) => {
              const [event, data] = block.split('\n');
              return [event!.slice(7), JSON.parse(data!.slice(6))];
            }),
        ),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('starting page and capacity', () => {
  let gw: TestGateway | undefined;
  let backend: Server | undefined;
  afterEach(async () => {
    await gw?.close();
    backend?.close();
    gw = backend = undefined;
  });

  async function slowRuntime(delayMs: number) {
    backend = createServer((_req, res) => res.end('editor'));
    await new Promise<void>((ok) => backend!.listen(0, '127.0.0.1', ok));
    const runtime = new FakeRuntime({ host: '127.0.0.1', port: (backend.address() as { port: number }).port });
    runtime.startDelayMs = delayMs;
    return runtime;
  }

  it('shows the starting page to a browser at once, streams progress, then serves the editor', async () => {
    gw = await startGateway({}, await slowRuntime(1500));
    const jwt = await token('student');
    const started = Date.now();
    const page = await call(`${gw.url}/ws/student/`, { headers: pageLoad(jwt) });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(page.status).toBe(200);
    expect(page.headers.get('x-workspace-status')).toBe('starting');
    const html = await page.text();
    expect(html).toContain('Starting your workspace');
    expect(html).toContain('/api/workspaces/student/progress');
    expect(html).toContain('http-equiv="refresh"');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'nonce-/);
    const events = await readEvents(`${gw.url}/api/workspaces/student/progress`, jwt);
    expect(events.at(-1)![0]).toBe('ready');
    expect(events.slice(0, -1).every(([e]) => e === 'progress')).toBe(true);
    expect((await call(`${gw.url}/ws/student/`, { headers: pageLoad(jwt) })).body.toString()).toBe('editor');
  });

  it('lets script requests wait for a spawn in flight, up to the spawn timeout', async () => {
    gw = await startGateway({}, await slowRuntime(800));
    const jwt = await token('waiter');
    await call(`${gw.url}/ws/waiter/`, { headers: pageLoad(jwt) });
    const res = await call(`${gw.url}/ws/waiter/data`, { headers: scriptRequest(jwt) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('editor');
  });

  it('answers "full" beyond the running limit, and queues spawns beyond the concurrency limit in order', async () => {
    const runtime = await slowRuntime(300);
    gw = await startGateway({ GATEWAY_MAX_RUNNING: '3', GATEWAY_MAX_CONCURRENT_SPAWNS: '1' }, runtime);
    const users = ['q1', 'q2', 'q3'];
    const jwts = await Promise.all(users.map((u) => token(u)));
    const order: string[] = [];
    const start = runtime.start.bind(runtime);
    runtime.start = async (user, options) => {
      order.push(user);
      return start(user, options);
    };
    // Spawned in the order the gateway received the page loads (which the network may shuffle).
    const arrived: string[] = [];
    const manager = gw.app.manager;
    const wake = manager.wake.bind(manager);
    manager.wake = (user) => {
      if (!arrived.includes(user)) arrived.push(user);
      return wake(user);
    };
    const first = await Promise.all(users.map((u, i) => visit(`${gw!.url}/ws/${u}/`, { headers: pageLoad(jwts[i]!) })));
    expect(first.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(order).toEqual(arrived);
    expect([...order].sort()).toEqual(users);
    const fourth = await call(`${gw.url}/ws/q4/`, { headers: pageLoad(await token('q4')) });
    expect(fourth.status).toBe(503);
    expect(fourth.headers.get('retry-after')).toBeTruthy();
    const html = await fourth.text();
    expect(html).toContain('All 3 workspace places are in use');
    expect(html).toContain('Try again');
    const api = await call(`${gw.url}/ws/q4/`, { headers: scriptRequest(await token('q4')) });
    expect(api.status).toBe(503);
  });

  it('stops the least recently active idle workspace to make room when configured', async () => {
    gw = await startGateway({ GATEWAY_MAX_RUNNING: '2', GATEWAY_EVICT_IDLE_AFTER: '0s' }, await slowRuntime(0));
    for (const u of ['e1', 'e2']) expect((await visit(`${gw.url}/ws/${u}/`, { headers: pageLoad(await token(u)) })).status).toBe(200);
    gw.app.manager.touch('e1', 'request');
    expect((await visit(`${gw.url}/ws/e3/`, { headers: pageLoad(await token('e3')) })).status).toBe(200);
    expect(gw.app.manager.get('e2')).toMatchObject({ state: 'stopped', reason: 'stopped to make room' });
    expect(gw.app.manager.get('e1')?.state).toBe('running');
  });

  it("shows a failed spawn's reason with a retry that retries", async () => {
    const runtime = await slowRuntime(0);
    const { SpawnFailedError } = await import('../../src/errors.js');
    const start = runtime.start.bind(runtime);
    let failures = 1;
    runtime.start = async (user, onProgress) => {
      if (failures-- > 0) throw new SpawnFailedError('the image "nope:latest" is not on the engine');
      return start(user, onProgress);
    };
    gw = await startGateway({}, runtime);
    const jwt = await token('unlucky');
    const failed = await call(`${gw.url}/ws/unlucky/`, { headers: pageLoad(jwt) });
    expect(failed.status).toBe(503);
    const html = await failed.text();
    expect(html).toContain('the image &#34;nope:latest&#34; is not on the engine');
    expect(html).toMatch(/<a class="button" href="\/ws\/unlucky\/">Try again<\/a>/);
    expect((await visit(`${gw.url}/ws/unlucky/`, { headers: pageLoad(jwt) })).status).toBe(200);
  });
});
