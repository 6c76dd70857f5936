import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeRuntime } from '../support/fake-runtime.js';
import { gatewayInFrontOf, openWebSocket, pageLoad, scriptRequest, startGateway, token, type FrontedGateway } from '../support/gateway.js';
import { call } from '../support/http.js';
import { rawRequest } from '../support/raw-http.js';

/**
 * What a curious or malicious student (or a site they visit) can send. Every
 * case asserts the exact status, and that nothing reached the engine or a
 * workspace: the runtime's call counters and the backend's request log stay
 * as they were.
 */
describe('hostile input', () => {
  const seen: string[] = [];
  let runtime: FakeRuntime;
  let gw: FrontedGateway;
  let port: number;
  let alice: string;

  beforeAll(async () => {
    /** A workspace that notes a request the moment it arrives, and answers with the headers it got. */
    const workspace = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end(JSON.stringify({ headers: req.headers }));
    });
    workspace.on('upgrade', (req, socket) => {
      seen.push(`UPGRADE ${req.url}`);
      socket.destroy();
    });
    // alice's workspace already runs; every hostile request targets it or a neighbour.
    gw = await gatewayInFrontOf(workspace, 'alice', { GATEWAY_HEADERS_TIMEOUT: '1s', GATEWAY_START_RATE_LIMIT: '3', GATEWAY_MAX_API_BODY: '1024' });
    runtime = gw.runtime;
    port = gw.port;
    alice = await token('alice');
  });
  afterAll(() => gw?.close());

  /** Runs `attempt`, then checks that neither the engine nor a workspace heard of it. */
  async function untouched(attempt: () => Promise<void>): Promise<void> {
    const calls = { ...runtime.calls };
    const before = seen.length;
    await attempt();
    expect(seen.slice(before), 'requests that reached a workspace').toEqual([]);
    expect(runtime.calls.start, 'spawns').toBe(calls.start);
    expect(runtime.calls.stop, 'stops').toBe(calls.stop);
    expect(runtime.calls.remove, 'removals').toBe(calls.remove);
  }

  const cookie = () => `workspace_token=${alice}`;
  const head = (lines: string[], body = '') => `${[...lines, 'Connection: close'].join('\r\n')}\r\n\r\n${body}`;

  it.each([
    ['header block too large', 431, () => head(['GET /ws/alice/ HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, `X-Big: ${'a'.repeat(20_000)}`])],
    ['request target too long', 414, () => head([`GET /ws/alice/${'a'.repeat(9000)} HTTP/1.1`, 'Host: gw', `Cookie: ${cookie()}`])],
    [
      'Content-Length and Transfer-Encoding together',
      400,
      () => head(['POST /ws/alice/x HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Content-Length: 5', 'Transfer-Encoding: chunked'], '0\r\n\r\n'),
    ],
    [
      'duplicated Transfer-Encoding',
      400,
      () => head(['POST /ws/alice/x HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], '0\r\n\r\n'),
    ],
    [
      'obfuscated Transfer-Encoding',
      400,
      () => head(['POST /ws/alice/x HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Transfer-Encoding: xchunked'], '0\r\n\r\n'),
    ],
    ['space before the colon', 400, () => head(['POST /ws/alice/x HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Transfer-Encoding : chunked'], '0\r\n\r\n')],
    [
      'chunked then identity',
      400,
      () => head(['POST /ws/alice/x HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Transfer-Encoding: chunked, identity'], '0\r\n\r\n'),
    ],
    [
      'invalid chunk size',
      400,
      () => head(['POST /ws/alice/x HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Transfer-Encoding: chunked'], 'zz\r\nabc\r\n0\r\n\r\n'),
    ],
    [
      'two different Content-Lengths',
      400,
      () => head(['POST /ws/alice/x HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Content-Length: 3', 'Content-Length: 4'], 'abcd'),
    ],
    ['bare LF line endings', 400, () => 'GET /ws/alice/ HTTP/1.1\nHost: gw\n\n'],
    ['absolute-form target to another user', 400, () => head(['GET http://gw/ws/bob/ HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`])],
    ['encoded slash into another user', 400, () => head(['GET /ws/alice%2F..%2Fbob/ HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`])],
    ['dot segments into another user', 400, () => head(['GET /ws/alice/../bob/ HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`])],
    ["another user's workspace", 403, () => head(['GET /ws/bob/ HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Accept: application/json'])],
    [
      "another user's code-server port proxy",
      403,
      () => head(['GET /ws/bob/proxy/3000/ HTTP/1.1', 'Host: gw', `Cookie: ${cookie()}`, 'Accept: application/json']),
    ],
    ['garbage cookie header', 401, () => head(['GET /ws/alice/ HTTP/1.1', 'Host: gw', 'Cookie: =;;%;workspace_token', 'Accept: application/json'])],
    [
      'a forged identity header without a token',
      401,
      () => head(['GET /ws/alice/ HTTP/1.1', 'Host: gw', 'X-Workspace-User: alice', 'X-Forwarded-User: alice', 'Accept: application/json']),
    ],
    [
      'Basic auth instead of a token',
      401,
      () => head(['GET /ws/alice/ HTTP/1.1', 'Host: gw', 'Authorization: Basic YWxpY2U6cGFzcw==', 'Accept: application/json']),
    ],
  ])('%s → %i, nothing forwarded', async (_name, status, bytes) => {
    await untouched(async () => {
      const res = await rawRequest(port, bytes());
      expect(res.status).toBe(status);
    });
  });

  it('cuts off a client that sends its headers too slowly, while others are served', async () => {
    await untouched(async () => {
      const slow = rawRequest(port, head(['GET /healthz HTTP/1.1', 'Host: gw', 'X-Slow: ' + 'a'.repeat(200)]), { dribbleMs: 50, waitMs: 8000 });
      const others = await Promise.all(Array.from({ length: 5 }, () => call(`${gw.url}/healthz`)));
      expect(others.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      const result = await slow;
      expect([408, 0]).toContain(result.status);
      expect(result.closedAfterMs).toBeLessThan(4000);
    });
  });

  it('never echoes a token in an error page or JSON', async () => {
    const forged = `${alice.slice(0, -4)}AAAA`;
    for (const accept of ['text/html', 'application/json']) {
      const res = await call(`${gw.url}/ws/alice/`, { headers: { cookie: `workspace_token=${forged}`, accept } });
      expect(res.status).toBe(401);
      expect(await res.text()).not.toContain(forged.split('.')[1]!);
    }
  });

  it('replaces forwarding headers from an untrusted peer', async () => {
    const res = await call(`${gw.url}/ws/alice/x`, {
      headers: scriptRequest(alice, {
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=10.0.0.1',
        'x-real-ip': '10.0.0.1',
        'x-remote-user': 'bob',
      }),
    });
    const { headers } = await res.json();
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe(new URL(gw.url).host);
    expect(headers.forwarded).toBeUndefined();
    expect(headers['x-real-ip']).toBeUndefined();
    expect(headers['x-remote-user']).toBeUndefined();
  });

  it('appends to the chain of a trusted proxy and believes its scheme for the cookie', async () => {
    const trusted = await startGateway({ GATEWAY_TRUSTED_PROXIES: '127.0.0.0/8' }, runtime);
    try {
      await trusted.app.manager.reconcile();
      const res = await call(`${trusted.url}/ws/alice/x`, {
        headers: scriptRequest(alice, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'lms.example.edu' }),
      });
      const { headers } = await res.json();
      expect(headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
      expect(headers['x-forwarded-proto']).toBe('https');
      expect(headers['x-forwarded-host']).toBe('lms.example.edu');
      const created = await call(`${trusted.url}/api/users/workspace/create/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'x-forwarded-proto': 'https', accept: 'application/json' },
      });
      expect(created.headers.get('set-cookie')).toMatch(/; Secure/);
      expect((await created.json()).url).toMatch(/^https:/);
    } finally {
      await trusted.close();
    }
    // The same header from an untrusted peer changes nothing.
    const untrusted = await call(`${gw.url}/api/users/workspace/create/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'x-forwarded-proto': 'https', accept: 'application/json' },
    });
    expect(untrusted.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('sets Secure cookies when the public URL is https', async () => {
    const https = await startGateway({ GATEWAY_PUBLIC_URL: 'https://lms.example.edu' }, runtime);
    try {
      const res = await call(`${https.url}/api/users/workspace/create/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, accept: 'application/json' },
      });
      const cookie = res.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Lax/);
      expect(cookie).toMatch(/Path=\//);
      expect(cookie).toMatch(/Secure/);
      expect(cookie).toMatch(/^__Host-workspace_session=/);
      expect((await res.json()).workspace_url).toBe('https://lms.example.edu/ws/alice/');
    } finally {
      await https.close();
    }
  });

  it('rate-limits start calls per user, so a loop cannot churn containers', async () => {
    const bob = await token('bob');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await call(`${gw.url}/api/workspaces/bob/stop`, { method: 'POST', headers: { authorization: `Bearer ${bob}`, accept: 'application/json' } });
      statuses.push(res.status);
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
  });

  it('refuses large API bodies with 413', async () => {
    await untouched(async () => {
      const res = await call(`${gw.url}/api/workspaces/alice/start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, accept: 'application/json', 'content-type': 'application/json' },
        body: 'x'.repeat(5000),
      });
      expect(res.status).toBe(413);
    });
  });

  it("sends security headers on its own pages but leaves the workspace's answers alone", async () => {
    const page = await call(`${gw.url}/ws/bob/`, { headers: pageLoad(alice) });
    expect(page.status).toBe(403);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const proxied = await call(`${gw.url}/ws/alice/x`, { headers: scriptRequest(alice) });
    expect(proxied.status).toBe(200);
    expect(proxied.headers.get('content-security-policy')).toBeNull();
  });

  describe('WebSocket upgrades', () => {
    it.each([
      ['a foreign Origin', 403, () => ({ path: '/ws/alice/s', headers: { cookie: cookie(), origin: 'https://evil.example' } })],
      ['a null Origin', 403, () => ({ path: '/ws/alice/s', headers: { cookie: cookie(), origin: 'null' } })],
      ['no token', 401, () => ({ path: '/ws/alice/s', headers: {} })],
      ["another user's workspace", 403, () => ({ path: '/ws/bob/s', headers: { cookie: cookie() } })],
      ['a malformed path', 400, () => ({ path: '/ws/alice%252F/s', headers: { cookie: cookie() } })],
      ['outside a workspace', 404, () => ({ path: '/api/workspaces', headers: { cookie: cookie() } })],
    ])('%s → %i before any byte reaches the workspace', async (_name, status, request) => {
      await untouched(async () => {
        const { path, headers } = request();
        const res = await openWebSocket(`${gw.wsUrl}${path}`, headers as Record<string, string>);
        expect(res.status).toBe(status);
      });
    });

    it('refuses an expired token', async () => {
      await untouched(async () => {
        const expired = await token('alice', { expiresIn: Math.floor(Date.now() / 1000) - 120 });
        const res = await openWebSocket(`${gw.wsUrl}/ws/alice/s`, { cookie: `workspace_token=${expired}` });
        expect(res.status).toBe(401);
      });
    });
  });
});
