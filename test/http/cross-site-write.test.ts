import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayProcess } from '../support/gateway-process.js';
import { gatewayInFrontOf, pageLoad, token, type FrontedGateway } from '../support/gateway.js';
import { call, freePort, visit } from '../support/http.js';
import { recordingWorkspace } from '../support/stand-in-workspace.js';

const SIBLING = 'https://forum.example.edu';
const LMS = 'https://lms.example.edu';

/** A form or fetch from another page, with the victim's cookie (SameSite=Lax lets same-site ones through). */
const fromPage = (jwt: string, method: string, site: string | undefined, origin: string | undefined) => ({
  method,
  headers: {
    cookie: `workspace_token=${jwt}`,
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
    ...(site ? { 'sec-fetch-site': site, 'sec-fetch-mode': 'cors' } : {}),
    ...(origin ? { origin } : {}),
  },
  body: 'cmd=rm+-rf+~',
});

/**
 * Finding 7 (issue #11): plain HTTP into a workspace was not checked for
 * where it came from, so a POST into /ws/alice/… from a sibling site
 * (`Sec-Fetch-Site: same-site`, which sends the Lax cookie) reached her
 * workspace. State-changing requests from another site are now refused with
 * 403 `cross_site` before anything reaches the workspace; a top-level GET
 * navigation from the LMS still opens and wakes it.
 */
describe('state-changing requests into a workspace from another site', () => {
  const seen: string[] = [];
  let gw: FrontedGateway;
  let alice: string;

  beforeAll(async () => {
    gw = await gatewayInFrontOf(recordingWorkspace(seen), 'alice', { GATEWAY_ALLOWED_ORIGINS: LMS });
    alice = await token('alice');
    // Verified once, so later requests take the hot path (a cached token, a running workspace).
    expect((await call(`${gw.url}/ws/alice/warm`, { headers: { cookie: `workspace_token=${alice}` } })).status).toBe(200);
  });
  afterAll(() => gw?.close());

  it.each([
    ['POST', 'same-site', SIBLING],
    ['POST', 'cross-site', 'https://evil.example'],
    ['POST', 'same-site', undefined],
    ['POST', undefined, 'https://evil.example'],
    ['POST', undefined, 'null'],
    ['PUT', 'same-site', SIBLING],
    ['PATCH', 'cross-site', 'https://evil.example'],
    ['DELETE', 'same-site', SIBLING],
  ])('%s with Sec-Fetch-Site %s and Origin %s → 403 cross_site; the workspace never sees it', async (method, site, origin) => {
    const before = seen.length;
    const res = await call(`${gw.url}/ws/alice/__echo`, fromPage(alice, method, site, origin));
    expect(res.status).toBe(403);
    expect((await res.json()).error).toBe('cross_site');
    expect(seen.slice(before)).toEqual([]);
    // The gateway goes on serving alice's own requests.
    const own = await call(`${gw.url}/ws/alice/__echo`, fromPage(alice, 'POST', 'same-origin', gw.url));
    expect(own.status).toBe(200);
  });

  it.each([
    ['same-origin', 'the gateway itself', () => gw.url],
    ['none', 'typed or bookmarked', () => undefined],
    [undefined, "the gateway's own Origin (a browser without Sec-Fetch-*)", () => gw.url],
    ['same-site', 'an allowed origin (the LMS)', () => LMS],
    [undefined, 'not a browser (neither header)', () => undefined],
  ])('POST with Sec-Fetch-Site %s, from %s → forwarded with its body', async (site, _from, origin) => {
    const before = seen.length;
    const res = await call(`${gw.url}/ws/alice/__echo`, fromPage(alice, 'POST', site, origin()));
    expect(res.status).toBe(200);
    expect(seen.slice(before)).toEqual(['POST /__echo 12']);
  });

  it('lets a top-level GET navigation from another site open and wake a stopped workspace', async () => {
    const bob = await token('bob');
    const starts = gw.runtime.calls.start;
    const res = await visit(`${gw.url}/ws/bob/`, { headers: pageLoad(bob, { 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': 'document' }) });
    expect(res.status).toBe(200);
    expect(gw.runtime.calls.start).toBe(starts + 1);
    expect(seen.at(-1)).toBe('GET / 0');
    const head = await call(`${gw.url}/ws/alice/x`, { method: 'HEAD', headers: { cookie: `workspace_token=${alice}`, 'sec-fetch-site': 'cross-site' } });
    expect(head.status).toBe(200);
  });
});

/**
 * The same in a cluster (GATEWAY_WORKERS=2): a worker passes a cross-site
 * write to the leader, which refuses it. The demo workspace writes a file on
 * POST /__file, so a refused write that reached it would leave the file behind.
 */
describe('state-changing requests from another site, in a cluster', () => {
  let gateway: GatewayProcess;

  beforeAll(async () => {
    gateway = await GatewayProcess.start({ workers: 2, port: await freePort() });
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
  });

  it("refuses them on the workers' hot path and the leader's, and writes from the gateway itself still arrive", async () => {
    const alice = await token('alice');
    expect((await visit(`${gateway.url}/ws/alice/`, { headers: pageLoad(alice) })).status).toBe(200);
    // The workers learn of the workspace within 100 ms; then they serve it themselves.
    await new Promise((r) => setTimeout(r, 300));
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call(`${gateway.url}/ws/alice/__file?name=stolen${i}`, fromPage(alice, 'POST', 'same-site', SIBLING))),
    );
    for (const res of attempts) {
      expect(res.status).toBe(403);
      expect((await res.json()).error).toBe('cross_site');
    }
    for (let i = 0; i < 8; i++) {
      expect((await call(`${gateway.url}/ws/alice/__file?name=stolen${i}`, { headers: { cookie: `workspace_token=${alice}` } })).status).toBe(404);
    }
    const own = await call(`${gateway.url}/ws/alice/__file?name=mine`, fromPage(alice, 'POST', 'same-origin', gateway.url));
    expect(own.status).toBe(201);
    expect(await (await call(`${gateway.url}/ws/alice/__file?name=mine`, { headers: { cookie: `workspace_token=${alice}` } })).text()).toBe('cmd=rm+-rf+~');
    expect(gateway.alive(), gateway.exitReport()).toBe(true);
  });
});
