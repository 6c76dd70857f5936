import { afterEach, describe, expect, it } from 'vitest';
import { FakeRuntime } from '../support/fake-runtime.js';
import { gatewayInFrontOf, openWebSocket, pageLoad, scriptRequest, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call, freePort, visit } from '../support/http.js';

describe('upstream faults', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('answers 502 when the workspace refuses the connection, and asks the engine again next time', async () => {
    // Known running (as after a restart) but the editor is gone: nobody listens on its port.
    const front = await gatewayInFrontOf(await freePort(), 'alice', { GATEWAY_SPAWN_TIMEOUT: '1s' });
    const runtime = front.runtime;
    gw = front;
    const jwt = await token('alice');
    const res = await call(`${gw.url}/ws/alice/x`, { headers: scriptRequest(jwt) });
    expect(res.status).toBe(502);
    expect((await res.json()).error).toBe('upstream_error');
    const inspectsBefore = runtime.calls.inspect;
    const ws = await openWebSocket(`${gw.wsUrl}/ws/alice/`, { cookie: `workspace_token=${jwt}` });
    // The refused connection made the gateway doubt its picture: it asked the engine again,
    // which still says "running", so it waited for the editor (spawn timeout) instead of proxying blind.
    expect(runtime.calls.inspect).toBeGreaterThan(inspectsBefore);
    expect(ws.status).toBe(503);
    expect(JSON.parse(ws.body!).error).toBe('spawn_timeout');
    expect((await call(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('answers 503 engine_unavailable when the runtime cannot reach the engine', async () => {
    const runtime = new FakeRuntime({ host: '127.0.0.1', port: 1 }).down('socket missing');
    gw = await startGateway({}, runtime);
    const res = await visit(`${gw.url}/ws/bob/`, { headers: pageLoad(await token('bob'), { accept: 'application/json' }) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect((await res.json()).error).toBe('engine_unavailable');
    const page = await visit(`${gw.url}/ws/bob/`, { headers: pageLoad(await token('bob')) });
    expect(page.status).toBe(503);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).not.toMatch(/at .*\.js:\d+/);
  });

  it("relays a workspace's refusal of an upgrade and closes both sockets; a dead workspace gets 502", async () => {
    const { createServer } = await import('node:http');
    const backend = createServer((_req, res) => res.end('plain'));
    backend.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope'));
    const front = await gatewayInFrontOf(backend, 'ursula');
    gw = front;
    const jwt = await token('ursula');
    const refused = await openWebSocket(`${gw.wsUrl}/ws/ursula/socket`, { cookie: `workspace_token=${jwt}` });
    expect(refused.status).toBe(403);
    expect(refused.body).toBe('nope');
    expect(gw.app.sockets.size).toBe(0);
    // The workspace vanishes: the next upgrade is answered 502, not left hanging.
    const { runtime } = front;
    runtime.endpoint = { host: '127.0.0.1', port: await freePort() };
    runtime.workspaces.set('ursula', { user: 'ursula', state: 'running', id: 'id-ursula', endpoint: runtime.endpoint });
    await gw.app.manager.reconcile();
    const dead = await openWebSocket(`${gw.wsUrl}/ws/ursula/socket`, { cookie: `workspace_token=${jwt}` });
    expect(dead.status).toBe(502);
  });

  it('keeps serving after many clients cut off large downloads halfway (no pooled connection is leaked)', async () => {
    const { connect } = await import('node:net');
    gw = await startGateway();
    const jwt = await token('quitter');
    expect((await visit(`${gw.url}/ws/quitter/`, { headers: pageLoad(jwt) })).status).toBe(200);
    const port = gw.port;
    // 6 waves of 50 clients hanging up in the middle of 1 MiB answers: more than the pool holds.
    for (let wave = 0; wave < 6; wave++) {
      await Promise.all(
        Array.from(
          { length: 50 },
          () =>
            new Promise<void>((done) => {
              const socket = connect(port, '127.0.0.1');
              socket.on('error', () => done());
              socket.write(`GET /ws/quitter/__bytes?size=1m HTTP/1.1\r\nHost: gw\r\nCookie: workspace_token=${jwt}\r\n\r\n`);
              // Reads slowly, so the gateway has to pause and resume the workspace's answer, then hangs up.
              socket.on('data', () => {
                socket.pause();
                setTimeout(() => socket.resume(), 2);
              });
              setTimeout(
                () => {
                  socket.destroy();
                  done();
                },
                20 + Math.random() * 200,
              );
            }),
        ),
      );
    }
    const started = Date.now();
    const after = await call(`${gw.url}/ws/quitter/__bytes`, { headers: scriptRequest(jwt) });
    expect(after.status).toBe(200);
    expect(after.body.length).toBe(1024);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('passes on only the permessage-deflate offers, the extension the idle rule can read through', async () => {
    const { createServer } = await import('node:http');
    let seen: Record<string, unknown> | undefined;
    const backend = createServer();
    backend.on('upgrade', (req, socket) => {
      seen = req.headers;
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    gw = await gatewayInFrontOf(backend, 'vera');
    const jwt = await token('vera');
    await openWebSocket(`${gw.wsUrl}/ws/vera/socket`, {
      cookie: `workspace_token=${jwt}`,
      'sec-websocket-extensions': 'x-webkit-deflate-frame, permessage-deflate; client_max_window_bits, x-unknown; a=1',
    });
    expect(seen?.['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect(seen?.upgrade).toBe('websocket');
    expect(seen?.cookie).toBeUndefined();
  });
});
