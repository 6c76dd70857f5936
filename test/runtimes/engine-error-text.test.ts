import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { DockerRuntime } from '../../src/runtimes/docker/docker-runtime.js';
import { SECRET, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call } from '../support/http.js';

/** The kind of words an engine answers with: host paths, volume names, its own internals. */
const CREATE_REFUSAL =
  'failed to create shim task: OCI runtime create failed: error mounting "/var/lib/docker/volumes/wg-alice/_data" to rootfs at "/home/coder/project": permission denied: unknown';
const PING_REFUSAL = 'daemon is shutting down: containerd socket /run/containerd/containerd.sock closed';

/**
 * A Docker Engine API that accepts what the gateway checks first (the
 * network, the volume) and refuses to create a container with its own words.
 */
function fakeEngine(): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://engine').pathname;
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/_ping') return answer(500, { message: PING_REFUSAL });
    if (path === '/events') return void res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
    if (path === '/containers/json') return answer(200, []);
    if (path === '/networks') {
      // The gateway finds its network by listing with a name filter: the one asked for exists, and is safe.
      const filters = JSON.parse(new URL(req.url ?? '/', 'http://engine').searchParams.get('filters') ?? '{}') as { name?: string[] };
      const name = filters.name?.[0] ?? 'wg-net';
      return answer(200, [
        { Id: 'n1', Name: name, Created: '2026-01-01T00:00:00Z', Driver: 'bridge', Options: { 'com.docker.network.bridge.enable_icc': 'false' } },
      ]);
    }
    if (path.startsWith('/networks/')) return answer(200, { Name: 'wg-net', Driver: 'bridge', Options: { 'com.docker.network.bridge.enable_icc': 'false' } });
    if (path === '/volumes/create') return answer(201, { Name: 'v' });
    if (path === '/containers/create') return answer(500, { message: CREATE_REFUSAL });
    if (path.startsWith('/containers/')) return answer(404, { message: 'No such container: x' });
    answer(404, { message: `page not found ${path}` });
  });
}

/**
 * Finding 8 (issue #11), engine error text: the engine's own words (host
 * paths, mount sources, socket paths) reached clients in 502/503 answers.
 * Clients now get the gateway's sentence; the engine's words go to the log.
 */
describe('what clients learn of an engine failure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wg-engine-'));
  let engine: Server;
  let gw: TestGateway;
  let away: TestGateway;
  const log: string[] = [];

  beforeAll(async () => {
    engine = fakeEngine();
    const socketPath = join(dir, 'engine.sock');
    await new Promise<void>((ok) => engine.listen(socketPath, ok));
    const env = { GATEWAY_RUNTIME: 'docker', GATEWAY_JWT_SECRET: SECRET };
    const config = loadConfig({ env });
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (log.push(chunk.toString()), done()) }));
    const runtime = (docker: Docker) => new DockerRuntime({ settings: config, logger, docker, requestTimeoutMs: 2000 });
    gw = await startGateway(env, runtime(new Docker({ socketPath })), logger);
    away = await startGateway(env, runtime(new Docker({ socketPath: join(dir, 'no-engine-here.sock') })), logger);
  });
  afterAll(async () => {
    await gw?.close();
    await away?.close();
    engine?.closeAllConnections();
    engine?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const leaks = (text: string) =>
    [CREATE_REFUSAL, 'OCI runtime', '/var/lib/docker', PING_REFUSAL, 'containerd', 'no-engine-here', 'ENOENT', dir].filter((s) => text.includes(s));

  it("a refused spawn is a 503 spawn_failed with a sentence; the engine's words are only in the log", async () => {
    const alice = await token('alice');
    const start = await call(`${gw.url}/api/workspaces/alice/start`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
    expect(start.status).toBe(503);
    const body = await start.text();
    expect(JSON.parse(body).error).toBe('spawn_failed');
    expect(JSON.parse(body).message).toMatch(/engine refused/);
    expect(leaks(body)).toEqual([]);

    // Neither in the state the owner reads back, nor on the page a browser gets.
    const state = await call(`${gw.url}/api/workspaces/me`, { headers: { authorization: `Bearer ${alice}` } });
    expect(leaks(await state.text())).toEqual([]);
    const page = await call(`${gw.url}/ws/alice/`, { headers: { cookie: `workspace_token=${alice}`, accept: 'text/html', 'sec-fetch-mode': 'navigate' } });
    expect([200, 503]).toContain(page.status);
    expect(leaks(await page.text())).toEqual([]);

    expect(log.join('')).toContain('OCI runtime create failed');
  });

  it('an engine answering /readyz with an error is a 502 without its words, and the gateway goes on', async () => {
    const res = await call(`${gw.url}/readyz`);
    expect(res.status).toBe(502);
    const body = await res.text();
    expect(JSON.parse(body).error).toBe('engine_error');
    expect(leaks(body)).toEqual([]);
    expect(log.join('')).toContain(PING_REFUSAL);
    expect((await call(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('an engine that is not there is a 503 engine_unavailable without the socket or the error code', async () => {
    const res = await call(`${away.url}/readyz`);
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(JSON.parse(body).error).toBe('engine_unavailable');
    expect(leaks(body)).toEqual([]);
    expect(log.join('')).toMatch(/"detail":"ping: ENOENT"/);
  });
});
