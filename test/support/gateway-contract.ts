/**
 * Routing, auth and proxy behaviour every runtime must show the same way.
 * Run once with the process runtime (test/http) and once against the real
 * engine (test/http/gateway.docker.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, visit } from './http.js';
import { openWebSocket, pageLoad, roundTrip, scriptRequest, startGateway, token, type TestGateway } from './gateway.js';

/** What the contract reads of a gateway: where it listens, and how to close it. */
export type ContractGateway = Pick<TestGateway, 'url' | 'wsUrl' | 'close'>;

export interface ContractHarness<G extends ContractGateway = TestGateway> {
  /** GATEWAY_* settings selecting and configuring the runtime. */
  env: () => Record<string, string>;
  /** How many workspace instances (containers, processes) exist for `user`, as the engine sees them. */
  instancesOf: (gateway: G, user: string) => Promise<number>;
  /** Starts a gateway with these settings; default: in this process. A runtime whose workspaces only a container reaches runs it in one. */
  start?: (env: Record<string, string>) => Promise<G>;
  /** This test process's address as the gateway sees it (X-Forwarded-For); default 127.0.0.1. */
  clientAddress?: string;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

export function gatewayContract<G extends ContractGateway = TestGateway>(name: string, harness: ContractHarness<G>): void {
  describe(`gateway contract (${name})`, () => {
    let gw: G;
    let admin: G;
    // Without a start of its own, G is TestGateway: a gateway in this process.
    const start = harness.start ?? ((env: Record<string, string>) => startGateway(env) as unknown as Promise<G>);
    let n = 0;
    const freshUser = () => `u${process.pid}x${++n}`;

    beforeAll(async () => {
      await harness.setup?.();
      gw = await start(harness.env());
      admin = await start({ ...harness.env(), GATEWAY_ADMIN_WORKSPACE_ACCESS: 'true', GATEWAY_LOGIN_URL: 'https://lms.example.edu/login' });
    });
    afterAll(async () => {
      await gw?.close();
      await admin?.close();
      await harness.teardown?.();
    });

    it("redirects /ws/me to the caller's workspace, keeping the rest of the path and the query", async () => {
      const jwt = await token('alice');
      const res = await visit(`${gw.url}/ws/me/some/file.txt?line=3&col=1`, { headers: pageLoad(jwt) });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/ws/alice/some/file.txt?line=3&col=1');
      const bare = await visit(`${gw.url}/ws/me`, { headers: pageLoad(jwt) });
      expect(bare.headers.get('location')).toBe('/ws/alice/');
      const numeric = await visit(`${gw.url}/ws/me`, { headers: pageLoad(await token(42)) });
      expect(numeric.headers.get('location')).toBe('/ws/42/');
    });

    it('adds the slash with a 308', async () => {
      const res = await call(`${gw.url}/ws/alice?folder=/x`);
      expect(res.status).toBe(308);
      expect(res.headers.get('location')).toBe('/ws/alice/?folder=/x');
    });

    it('refuses missing and bad tokens: HTML page, JSON, or the login redirect', async () => {
      const html = await call(`${gw.url}/ws/alice/`, { headers: { accept: 'text/html' } });
      expect(html.status).toBe(401);
      expect(html.headers.get('content-type')).toContain('text/html');
      const json = await call(`${gw.url}/ws/alice/`, { headers: { accept: 'application/json' } });
      expect(json.status).toBe(401);
      expect(await json.json()).toMatchObject({ error: 'token_missing' });
      const login = await call(`${admin.url}/ws/me/x?y=1`, { headers: { accept: 'text/html' } });
      expect(login.status).toBe(302);
      const location = new URL(login.headers.get('location')!);
      expect(location.origin + location.pathname).toBe('https://lms.example.edu/login');
      expect(location.searchParams.get('next')).toBe(`${admin.url}/ws/me/x?y=1`);

      const expired = await token('alice', { expiresIn: Math.floor(Date.now() / 1000) - 3600 });
      const wrongKey = await token('alice', { secret: 'another-secret-0123456789-xyz' });
      const none =
        ['{"alg":"none","typ":"JWT"}', JSON.stringify({ user_id: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })]
          .map((p) => Buffer.from(p).toString('base64url'))
          .join('.') + '.';
      for (const [bad, code] of [
        [expired, 'token_expired'],
        [wrongKey, 'token_invalid'],
        [none, 'token_invalid'],
        ['garbage', 'token_invalid'],
      ] as const) {
        const res = await call(`${gw.url}/ws/alice/`, { headers: { authorization: `Bearer ${bad}`, accept: 'application/json' } });
        expect(res.status, code).toBe(401);
        expect((await res.json()).error).toBe(code);
      }
    });

    it('rejects malformed user segments with 400 and creates nothing', async () => {
      const jwt = await token('alice');
      const paths = [
        '/ws/../x/',
        '/ws/%2e%2e/',
        '/ws/alice%2Fbob/',
        '/ws/alice%252Fbob/',
        '/ws/al%5Cice/',
        '/ws/al\\ice/',
        `/ws/${'a'.repeat(64)}/`,
        '/ws/.hidden/',
        '/ws/alice/../bob/',
        '/ws/alice/%2e%2e/bob/',
        '/ws/%zz/',
        '/ws/-x/',
      ];
      for (const path of paths) {
        const res = await visit(`${gw.url}${path}`, { headers: pageLoad(jwt) });
        expect(res.status, path).toBe(400);
      }
      expect(await harness.instancesOf(gw, 'alice')).toBe(0);
      expect(await harness.instancesOf(gw, 'bob')).toBe(0);
    });

    it('creates the workspace on the first page load and forwards without the token', async () => {
      const user = freshUser();
      const jwt = await token(user);
      const res = await visit(`${gw.url}/ws/${user}/__echo?q=1`, {
        headers: pageLoad(jwt, {
          cookie: `theme=dark; workspace_token=${jwt}; lang=en`,
          'x-forwarded-for': '6.6.6.6',
          'x-forwarded-user': 'mallory',
          forwarded: 'for=6.6.6.6',
        }),
      });
      expect(res.status).toBe(200);
      const echo = await res.json();
      expect(echo.user).toBe(user);
      expect(echo.url).toBe('/__echo?q=1');
      expect(echo.headers.cookie).toBe('theme=dark; lang=en');
      expect(echo.headers.authorization).toBeUndefined();
      expect(JSON.stringify(echo.headers)).not.toContain(jwt);
      expect(echo.headers['x-forwarded-for']).toBe(harness.clientAddress ?? '127.0.0.1');
      expect(echo.headers['x-forwarded-user']).toBeUndefined();
      expect(echo.headers.forwarded).toBeUndefined();
      expect(echo.headers['x-forwarded-prefix']).toBe(`/ws/${user}`);
      expect(echo.headers['x-forwarded-proto']).toBe('http');
      expect(echo.headers['x-forwarded-host']).toBe(new URL(gw.url).host);
      expect(echo.headers.host).toBe(new URL(gw.url).host);

      const bearer = await call(`${gw.url}/ws/${user}/__echo`, { headers: { authorization: `Bearer ${jwt}`, accept: 'application/json' } });
      const bearerEcho = await bearer.json();
      expect(bearerEcho.headers.authorization).toBeUndefined();
      expect(await harness.instancesOf(gw, user)).toBe(1);
    });

    it('spawns once for 20 concurrent first requests', async () => {
      const user = freshUser();
      const jwt = await token(user);
      const answers = await Promise.all(Array.from({ length: 20 }, () => visit(`${gw.url}/ws/${user}/__echo`, { headers: pageLoad(jwt) })));
      expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(await harness.instancesOf(gw, user)).toBe(1);
    });

    it('does not wake a stopped workspace for a script request or a WebSocket, only for a page load', async () => {
      const user = freshUser();
      const jwt = await token(user);
      const script = await call(`${gw.url}/ws/${user}/__echo`, { headers: scriptRequest(jwt) });
      expect(script.status).toBe(503);
      expect(script.headers.get('retry-after')).toBeTruthy();
      expect((await script.json()).error).toBe('workspace_not_running');
      const ws = await openWebSocket(`${gw.wsUrl}/ws/${user}/socket`, { cookie: `workspace_token=${jwt}` });
      expect(ws.status).toBe(503);
      expect(ws.headers?.['retry-after']).toBeTruthy();
      expect(await harness.instancesOf(gw, user)).toBe(0);
      expect((await visit(`${gw.url}/ws/${user}/`, { headers: pageLoad(jwt) })).status).toBe(200);
      expect(await harness.instancesOf(gw, user)).toBe(1);
    });

    it("keeps users apart: another user's token gets 403 over HTTP and WebSocket; admins only when allowed", async () => {
      const owner = freshUser();
      const ownerJwt = await token(owner);
      expect((await visit(`${gw.url}/ws/${owner}/`, { headers: pageLoad(ownerJwt) })).status).toBe(200);
      const other = await token('mallory');
      expect((await visit(`${gw.url}/ws/${owner}/__echo`, { headers: pageLoad(other) })).status).toBe(403);
      const ws = await openWebSocket(`${gw.wsUrl}/ws/${owner}/`, { cookie: `workspace_token=${other}` });
      expect(ws.status).toBe(403);
      const staff = await token('staff1', { claims: { is_staff: true } });
      expect((await visit(`${gw.url}/ws/${owner}/__echo`, { headers: pageLoad(staff) })).status).toBe(403);
      expect((await visit(`${admin.url}/ws/${owner}/__echo`, { headers: pageLoad(staff) })).status).toBe(200);
      expect((await visit(`${admin.url}/ws/${owner}/__echo`, { headers: pageLoad(other) })).status).toBe(403);
      expect(await harness.instancesOf(gw, 'mallory')).toBe(0);
    });

    it('proxies WebSockets: text, binary and a 1 MiB message; refuses foreign origins', async () => {
      const user = freshUser();
      const jwt = await token(user);
      expect((await visit(`${gw.url}/ws/${user}/`, { headers: pageLoad(jwt) })).status).toBe(200);
      const foreign = await openWebSocket(`${gw.wsUrl}/ws/${user}/`, { cookie: `workspace_token=${jwt}`, origin: 'https://evil.example' });
      expect(foreign.status).toBe(403);
      const { socket } = await openWebSocket(`${gw.wsUrl}/ws/${user}/socket`, { cookie: `workspace_token=${jwt}`, origin: gw.url });
      expect(socket).toBeDefined();
      const text = await roundTrip(socket!, 'hello');
      expect(text.binary).toBe(false);
      expect(text.data.toString()).toBe('hello');
      const big = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      const binary = await roundTrip(socket!, big);
      expect(binary.binary).toBe(true);
      expect(Buffer.compare(binary.data, big)).toBe(0);
      socket!.close();
    });

    it('answers upstream faults with 502/504 and keeps serving others', async () => {
      const slowGw = await start({ ...harness.env(), GATEWAY_PROXY_TIMEOUT: '1s' });
      try {
        const user = freshUser();
        const jwt = await token(user);
        expect((await visit(`${slowGw.url}/ws/${user}/`, { headers: pageLoad(jwt) })).status).toBe(200);
        const slow = await call(`${slowGw.url}/ws/${user}/__slow?ms=3000`, { headers: scriptRequest(jwt) });
        expect(slow.status).toBe(504);
        expect((await slow.json()).error).toBe('upstream_timeout');
        // Reset mid-body: the client sees a broken body, never a hang.
        await expect(call(`${slowGw.url}/ws/${user}/__reset`, { headers: scriptRequest(jwt) }).then((r) => r.text())).rejects.toThrow();
        expect((await call(`${slowGw.url}/ws/${user}/__echo`, { headers: scriptRequest(jwt) })).status).toBe(200);
      } finally {
        await slowGw.close();
      }
    });
  });
}
