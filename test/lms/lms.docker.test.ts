/**
 * The test LMS (stock Django + SimpleJWT) signs the tokens the gateway expects,
 * and the nginx edge routes one origin between the gateway and the LMS.
 * No Docker here: the `.docker` suffix puts it in the engine project, which
 * runs after scripts/ensure-engine.sh has installed Django and nginx.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { startLms, type Lms } from '../support/lms.js';
import { startEdge, type Edge } from '../support/nginx.js';

const LIFETIME = 60;

describe.each(['HS256', 'RS256'] as const)('the test LMS signing %s', (algorithm) => {
  let lms: Lms;
  let verify: (token: string) => Promise<JWTPayload>;
  beforeAll(async () => {
    lms = await startLms({ algorithm, accessLifetimeSeconds: LIFETIME });
    const key = algorithm === 'HS256' ? new TextEncoder().encode(lms.secret!) : await importSPKI(lms.publicKeyPem!, 'RS256');
    verify = async (token) => (await jwtVerify(token, key, { algorithms: [algorithm] })).payload;
  });
  afterAll(() => lms?.stop());

  const user = (name: string) => lms.users.find((u) => u.name === name)!;

  it('signs a student in with the claims the gateway reads', async () => {
    const alice = user('alice');
    const claims = await verify((await lms.token(alice.name, alice.password)).access);
    expect(claims).toMatchObject({ user_id: alice.id, is_staff: false, token_type: 'access' });
    expect(typeof claims.user_id).toBe('number');
    expect(claims.exp! - claims.iat!).toBe(LIFETIME);
  });

  it('marks staff with is_staff', async () => {
    const staff = user('staff');
    expect(await verify((await lms.token(staff.name, staff.password)).access)).toMatchObject({ user_id: staff.id, is_staff: true });
  });

  it('refreshes an access token, keeping the claims', async () => {
    const bob = user('bob');
    const { refresh } = await lms.token(bob.name, bob.password);
    const res = await fetch(lms.url + '/api/token/refresh/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh }),
    });
    expect(res.status).toBe(200);
    const claims = await verify((await res.json()).access);
    expect(claims).toMatchObject({ user_id: bob.id, is_staff: false, token_type: 'access' });
    // Stock SimpleJWT 5.2 copies `iat` from the refresh token (the sign-in time), so only exp is fresh.
    const { iat: signedInAt } = decodeJwt(refresh);
    expect(claims.iat).toBe(signedInAt);
    expect(Math.abs(claims.exp! - (Date.now() / 1000 + LIFETIME))).toBeLessThan(5);
  });

  it('refuses a wrong password with 401', async () => {
    const res = await fetch(lms.url + '/api/token/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'wrong' }),
    });
    expect(res.status).toBe(401);
  });
});

describe('the nginx edge in front of a gateway and the LMS', () => {
  let lms: Lms;
  let edge: Edge;
  let gateway: Server;
  const upgrades: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    // Stands in for the gateway: answers with what reached it, and echoes WebSocket messages.
    gateway = createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ gateway: true, method: req.method, url: req.url, headers: req.headers }));
    });
    new WebSocketServer({ server: gateway }).on('connection', (socket, req) => {
      upgrades.push(req.headers);
      socket.on('message', (data) => socket.send(`echo ${data}`));
    });
    await new Promise<void>((ok) => gateway.listen(0, '127.0.0.1', ok));
    lms = await startLms({ algorithm: 'HS256', accessLifetimeSeconds: LIFETIME });
    edge = await startEdge({ gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`, lmsUrl: lms.url });
  });
  afterAll(async () => {
    await edge?.stop();
    await lms?.stop();
    gateway?.closeAllConnections();
    await new Promise((ok) => gateway?.close(ok));
  });

  it('serves the LMS page and its token endpoint from /', async () => {
    const page = await fetch(edge.url + '/');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('id="launch"');
    expect(html).toContain('const GATEWAY = "";');
    const alice = lms.users.find((u) => u.name === 'alice')!;
    const res = await fetch(edge.url + '/api/token/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: alice.name, password: alice.password }),
    });
    expect(res.status).toBe(200);
  });

  it.each([
    ['GET', '/ws/x/'],
    ['POST', '/api/logout'],
    ['POST', '/api/users/workspace/create/'],
    ['GET', '/api/workspaces'],
    ['POST', '/api/launch/alice'],
  ])('sends %s %s to the gateway, with the port in Host', async (method, path) => {
    const res = await fetch(edge.url + path, { method });
    const seen = await res.json();
    expect(seen).toMatchObject({ gateway: true, method, url: path });
    expect(seen.headers).toMatchObject({ host: `127.0.0.1:${edge.port}`, 'x-forwarded-host': `127.0.0.1:${edge.port}`, 'x-forwarded-proto': 'http' });
  });

  it('leaves paths that only look like the gateway to the LMS', async () => {
    const res = await fetch(edge.url + '/api/logout/elsewhere');
    expect(res.headers.get('content-type')).not.toContain('application/json');
  });

  it('passes a WebSocket upgrade through to the gateway', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${edge.port}/ws/x/socket`);
    const reply = await new Promise<string>((ok, fail) => {
      socket.once('open', () => socket.send('hello'));
      socket.once('message', (data) => ok(String(data)));
      socket.once('error', fail);
    });
    socket.close();
    expect(reply).toBe('echo hello');
    expect(upgrades.at(-1)).toMatchObject({ host: `127.0.0.1:${edge.port}`, upgrade: 'websocket' });
  });
});
