import { createHmac } from 'node:crypto';
import type WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWebSocket, roundTrip, startGateway, token, type TestGateway } from '../support/gateway.js';
import { visit } from '../support/http.js';

const page = (cookie: string) => ({ cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate' });

/** A session cookie (`name=value`) from the create call, made with an LMS token that expires in `seconds`. */
async function launch(gw: TestGateway, user: string, seconds = 3600): Promise<string> {
  const lms = await token(user, { expiresIn: Math.floor(Date.now() / 1000) + seconds });
  const res = await fetch(`${gw.url}/api/users/workspace/create/`, { method: 'POST', headers: { authorization: `Bearer ${lms}`, accept: 'application/json' } });
  expect(res.status).toBe(200);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

const closed = (socket: WebSocket) =>
  new Promise<{ code: number; reason: string }>((ok) => socket.once('close', (code, reason) => ok({ code, reason: reason.toString() })));

describe('gateway sessions (SPEC §2a)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ GATEWAY_JWT_CLOCK_TOLERANCE: '0s' });
  });
  afterAll(() => gw?.close());

  it('outlives the LMS token: page loads and an open WebSocket carry on after it expired', async () => {
    const session = await launch(gw, 'tess', 2);
    expect((await visit(`${gw.url}/ws/tess/`, { headers: page(session) })).status).toBe(200);
    const { socket } = await openWebSocket(`${gw.wsUrl}/ws/tess/socket`, { cookie: session });
    await new Promise((r) => setTimeout(r, 3500));
    expect(socket!.readyState).toBe(socket!.OPEN);
    expect((await roundTrip(socket!, 'still here')).data.toString()).toContain('still here');
    expect((await visit(`${gw.url}/ws/tess/`, { headers: page(session) })).status).toBe(200);
    socket!.close();
  });

  it('never opens another user’s workspace, and never reaches a workspace (HTTP or WebSocket)', async () => {
    const alice = await launch(gw, 'alice');
    await launch(gw, 'bob');
    expect((await visit(`${gw.url}/ws/bob/`, { headers: page(alice) })).status).toBe(403);
    const echo = await visit(`${gw.url}/ws/alice/__echo`, { headers: { cookie: `${alice}; theme=dark`, accept: 'application/json' } });
    expect(echo.status).toBe(200);
    const seen = JSON.stringify(await echo.json());
    expect(seen).toContain('theme=dark');
    expect(seen).not.toContain('workspace_session');
    expect(seen).not.toContain(alice.split('=')[1]!);
  });

  it('refuses a forged, altered or other-key session cookie', async () => {
    const real = await launch(gw, 'alice');
    const [body, mac] = real.split('=')[1]!.split('.');
    const fields = JSON.parse(Buffer.from(body!, 'base64url').toString());
    const asBob = Buffer.from(JSON.stringify([fields[0], fields[1], 'bob', fields[3], fields[4], fields[5]])).toString('base64url');
    const otherKey = createHmac('sha256', 'another-key-0123456789-0123456789').update(body!).digest('base64url');
    for (const value of [`${asBob}.${mac}`, `${body}.${otherKey}`, `${body}.${mac}x`, 'garbage', `${body}`]) {
      for (const user of ['alice', 'bob']) {
        const res = await visit(`${gw.url}/ws/${user}/`, { headers: { cookie: `workspace_session=${value}`, accept: 'application/json' } });
        expect(res.status).toBe(401);
      }
    }
  });

  it('refuses a request with two gateway cookies of a kind (cookie tossing), and forwards nothing', async () => {
    const alice = await launch(gw, 'alice');
    const mallory = await launch(gw, 'mallory');
    const before = JSON.stringify(gw.app.manager.get('mallory'));
    for (const cookie of [`${mallory}; ${alice}`, `workspace_token=${await token('mallory')}; workspace_token=${await token('alice')}`]) {
      const res = await visit(`${gw.url}/ws/mallory/__echo`, { headers: { cookie, accept: 'application/json' } });
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('ambiguous_credentials');
      const ws = await openWebSocket(`${gw.wsUrl}/ws/mallory/socket`, { cookie });
      expect(ws.status).toBe(400);
    }
    // A token cookie beside a session of someone else is just as ambiguous.
    const mixed = await visit(`${gw.url}/ws/mallory/`, { headers: page(`workspace_token=${await token('mallory')}; ${alice}`) });
    expect(mixed.status).toBe(400);
    expect(JSON.stringify(gw.app.manager.get('mallory'))).toBe(before);
  });

  it('logout ends the session and closes its WebSockets, not those of another session', async () => {
    const first = await launch(gw, 'lou');
    // Another token (another sign-in): one token keeps one session.
    const second = await launch(gw, 'lou', 3601);
    expect((await visit(`${gw.url}/ws/lou/`, { headers: page(first) })).status).toBe(200);
    const a = (await openWebSocket(`${gw.wsUrl}/ws/lou/socket`, { cookie: first })).socket!;
    const b = (await openWebSocket(`${gw.wsUrl}/ws/lou/socket`, { cookie: second })).socket!;
    const aClosed = closed(a);
    const out = await fetch(`${gw.url}/api/logout`, { method: 'POST', headers: { cookie: first, accept: 'application/json' } });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/^workspace_session=; Max-Age=0/);
    expect(await aClosed).toEqual({ code: 1008, reason: 'signed out' });
    expect((await visit(`${gw.url}/ws/lou/`, { headers: { cookie: first, accept: 'application/json' } })).status).toBe(401);
    expect(b.readyState).toBe(b.OPEN);
    expect((await visit(`${gw.url}/ws/lou/`, { headers: page(second) })).status).toBe(200);
    b.close();
  });
});

describe('session expiry', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ GATEWAY_SESSION_IDLE: '2s', GATEWAY_SESSION_MAX_AGE: '5s' });
  });
  afterAll(() => gw?.close());

  it('an idle session closes its WebSockets and asks for a new launch', async () => {
    const session = await launch(gw, 'ida');
    expect((await visit(`${gw.url}/ws/ida/`, { headers: page(session) })).status).toBe(200);
    const { socket } = await openWebSocket(`${gw.wsUrl}/ws/ida/socket`, { cookie: session });
    const opened = Date.now();
    expect(await closed(socket!)).toEqual({ code: 1008, reason: 'session ended' });
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1000);
    const res = await visit(`${gw.url}/ws/ida/`, { headers: { cookie: session, accept: 'application/json' } });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toBe('session_expired');
  });

  it('student messages keep it alive, until the absolute end', async () => {
    const session = await launch(gw, 'max');
    expect((await visit(`${gw.url}/ws/max/`, { headers: page(session) })).status).toBe(200);
    const { socket } = await openWebSocket(`${gw.wsUrl}/ws/max/socket`, { cookie: session });
    const opened = Date.now();
    const typing = setInterval(() => socket!.send('typing'), 300);
    const end = await closed(socket!);
    clearInterval(typing);
    expect(end).toEqual({ code: 1008, reason: 'session ended' });
    // Past the 2 s idle limit thanks to the messages, cut at the 5 s maximum.
    expect(Date.now() - opened).toBeGreaterThanOrEqual(3500);
    expect((await visit(`${gw.url}/ws/max/`, { headers: { cookie: session, accept: 'application/json' } })).status).toBe(401);
  });
});

describe('launch from another origin (GATEWAY_LMS_ORIGINS)', () => {
  const LMS = 'http://lms.example.test:8000';
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ GATEWAY_LMS_ORIGINS: LMS, GATEWAY_LOGIN_URL: `${LMS}/login` });
  });
  afterAll(() => gw?.close());

  it('answers the preflight and the create call for a listed origin, and only for it', async () => {
    const preflight = await fetch(`${gw.url}/api/users/workspace/create/`, {
      method: 'OPTIONS',
      headers: { origin: LMS, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(LMS);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
    const lms = await token('cora');
    const create = await fetch(`${gw.url}/api/users/workspace/create/`, { method: 'POST', headers: { origin: LMS, authorization: `Bearer ${lms}` } });
    expect(create.status).toBe(200);
    expect(create.headers.get('access-control-allow-origin')).toBe(LMS);
    const me = await fetch(`${gw.url}/api/workspaces/me`, { headers: { origin: LMS, authorization: `Bearer ${lms}` } });
    expect(me.headers.get('access-control-allow-origin')).toBe(LMS);
    const other = await fetch(`${gw.url}/api/users/workspace/create/`, {
      method: 'POST',
      headers: { origin: 'http://evil.test', authorization: `Bearer ${lms}` },
    });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // Nothing else became cross-origin.
    const stop = await fetch(`${gw.url}/api/workspaces/cora/stop`, { method: 'POST', headers: { origin: LMS, authorization: `Bearer ${lms}` } });
    expect(stop.status).toBe(403);
    expect(stop.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends a browser without a session from /ws/me to the login URL, and a dead launch link to a page back to the LMS', async () => {
    const me = await visit(`${gw.url}/ws/me/`, { headers: { accept: 'text/html' } });
    expect(me.status).toBe(302);
    expect(me.headers.get('location')).toMatch(new RegExp(`^${LMS}/login\\?next=`));
    const dead = await visit(`${gw.url}/api/launch/not-a-real-code`, { headers: { accept: 'text/html' } });
    expect(dead.status).toBe(400);
    const html = await dead.text();
    expect(html).toContain('This link cannot open a workspace');
    expect(html).toContain(`href="${LMS}/login"`);
  });
});
