import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAuthority } from '../../src/http/host.js';
import { gatewayInFrontOf, token, type TestGateway } from '../support/gateway.js';
import { call } from '../support/http.js';
import { rawRequest } from '../support/raw-http.js';

const LOGIN = 'https://lms.example.edu/login';
/** Host values a URL parser refuses: each used to end the process through the login redirect. */
const BAD_HOSTS = ['a:99999', '[', 'a b', '%zz', 'a:0', 'a.123', '999.1.1.1', 'a.0x1f', '[1:2]', 'xn--zz', 'gw:', 'gw@evil'];

const head = (lines: string[]) => `${[...lines, 'Connection: close'].join('\r\n')}\r\n\r\n`;

/**
 * Finding 3 (issue #11): with GATEWAY_LOGIN_URL set and no GATEWAY_PUBLIC_URL,
 * an unauthenticated page load with a Host no URL can be built from made the
 * login redirect throw inside a promise's catch: an unhandled rejection, and
 * the process was gone. Such a Host (or a trusted proxy's X-Forwarded-Host)
 * is now a 400 `bad_host` before anything else, and the gateway goes on.
 */
describe('a Host the gateway cannot build URLs from', () => {
  const seen: string[] = [];
  let gw: TestGateway;
  let behindProxy: TestGateway;
  let port: number;
  let proxiedPort: number;
  let alice: string;

  beforeAll(async () => {
    /** alice's workspace, noting what reaches it; both gateways are in front of it. */
    const workspace = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end('workspace');
    });
    gw = await gatewayInFrontOf(workspace, 'alice', { GATEWAY_LOGIN_URL: LOGIN });
    // Loopback is the trusted edge proxy here, so X-Forwarded-Host counts.
    behindProxy = await gatewayInFrontOf((workspace.address() as AddressInfo).port, 'alice', {
      GATEWAY_LOGIN_URL: LOGIN,
      GATEWAY_TRUSTED_PROXIES: '127.0.0.0/8',
    });
    port = gw.port;
    proxiedPort = behindProxy.port;
    alice = await token('alice');
  });
  afterAll(async () => {
    await behindProxy?.close();
    await gw?.close();
  });

  /** What still works after each attack: the login redirect of a sane Host, and alice's workspace. */
  async function othersStillServed(url: string): Promise<void> {
    const login = await call(`${url}/ws/alice/`, { headers: { accept: 'text/html' } });
    expect(login.status).toBe(302);
    const location = new URL(login.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(LOGIN);
    expect(location.searchParams.get('next')).toBe(`${url}/ws/alice/`);
    const own = await call(`${url}/ws/alice/x`, { headers: { cookie: `workspace_token=${alice}`, accept: 'application/json' } });
    expect(own.status).toBe(200);
    expect(await own.text()).toBe('workspace');
  }

  it.each(BAD_HOSTS)('Host: %s on an unauthenticated page load → 400 bad_host, and the gateway goes on', async (host) => {
    const before = seen.length;
    const res = await rawRequest(port, head(['GET /ws/alice/ HTTP/1.1', `Host: ${host}`, 'Accept: text/html']));
    expect(res.status).toBe(400);
    expect(res.text).toContain('bad_host');
    expect(seen.length).toBe(before);
    await othersStillServed(gw.url);
  });

  it.each(BAD_HOSTS)("a trusted proxy's X-Forwarded-Host: %s → 400 bad_host, and the gateway goes on", async (host) => {
    const res = await rawRequest(
      proxiedPort,
      head(['GET /ws/alice/ HTTP/1.1', 'Host: gw.example.edu', `X-Forwarded-Host: ${host}`, 'Accept: application/json']),
    );
    expect(res.status).toBe(400);
    expect(res.text).toContain('"error":"bad_host"');
    await othersStillServed(behindProxy.url);
  });

  it('refuses a bad Host before the token is looked at, for its owner too, and for an upgrade', async () => {
    const before = seen.length;
    const owner = await rawRequest(port, head(['GET /ws/alice/x HTTP/1.1', 'Host: a:99999', `Cookie: workspace_token=${alice}`, 'Accept: application/json']));
    expect(owner.status).toBe(400);
    const upgrade = await rawRequest(
      port,
      head([
        'GET /ws/alice/ws HTTP/1.1',
        'Host: a b',
        `Cookie: workspace_token=${alice}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ]),
    );
    expect(upgrade.status).toBe(400);
    expect(upgrade.text).toContain('bad_host');
    expect(seen.length).toBe(before);
    await othersStillServed(gw.url);
  });

  it('refuses two Host headers (Node keeps only the first; a proxy in front may have read the other)', async () => {
    const before = seen.length;
    const res = await rawRequest(
      port,
      head(['GET /ws/alice/x HTTP/1.1', 'Host: gw.example.edu', 'Host: evil.example', `Cookie: workspace_token=${alice}`, 'Accept: application/json']),
    );
    expect(res.status).toBe(400);
    expect(res.text).toContain('bad_host');
    expect(seen.length).toBe(before);
    await othersStillServed(gw.url);
  });

  it.each(['gw.example.edu', 'gw.example.edu:8443', 'localhost', '127.0.0.1:80', '[::1]:8080', 'xn--bcher-kva.example', '3f2ab1c9d0e1', 'edge_1.internal.'])(
    'a valid Host %s gets the login redirect built from it',
    async (host) => {
      const res = await rawRequest(port, head(['GET /ws/alice/ HTTP/1.1', `Host: ${host}`, 'Accept: text/html']));
      expect(res.status).toBe(302);
      const location = /\r\nlocation: (\S+)/i.exec(res.text)?.[1];
      expect(new URL(location!).searchParams.get('next')).toBe(`http://${host}/ws/alice/`);
    },
  );

  it('never calls an authority valid that a URL parser refuses', () => {
    const hostChar = fc.constantFrom(...'abcxyz019-_.:[]%@ /\\#?xn'.split(''));
    const hostLike = fc.oneof(
      fc.string(),
      fc.array(hostChar, { maxLength: 24 }).map((chars) => chars.join('')),
      fc
        .tuple(
          fc.constantFrom('', 'xn--', 'a.', '[::', '1.2.3.'),
          fc.stringMatching(/^[a-z0-9.:-]{0,12}$/),
          fc.constantFrom('', ':', ':0', ':80', ':65535', ':65536', ']'),
        )
        .map((p) => p.join('')),
    );
    fc.assert(
      fc.property(hostLike, (host) => {
        if (!isAuthority(host)) return;
        expect(() => new URL(`http://${host}`), host).not.toThrow();
      }),
      { numRuns: 5000 },
    );
  });
});
