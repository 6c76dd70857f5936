import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayInFrontOf, pageLoad, scriptRequest, token, type TestGateway } from '../support/gateway.js';
import { call } from '../support/http.js';

/**
 * Finding 8 (issue #11), the tokens: one for the user `me` was accepted, and
 * `/ws/me/` then sent its holder to `/ws/me/` for ever; a SimpleJWT refresh
 * token (`token_type: refresh`, long-lived, meant for the LMS's refresh
 * endpoint only) opened a workspace like an access token. Both are refused
 * as `token_invalid`, and nothing reaches a workspace.
 */
describe('tokens that must not open a workspace', () => {
  const seen: string[] = [];
  let gw: TestGateway;

  beforeAll(async () => {
    const workspace = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end('workspace of alice');
    });
    gw = await gatewayInFrontOf(workspace, 'alice');
  });
  afterAll(() => gw?.close());

  it('refuses a token for `me` on /ws/me/ (no redirect to itself) and on the API', async () => {
    const me = await token('me');
    const page = await call(`${gw.url}/ws/me/`, { headers: pageLoad(me) });
    expect(page.status).toBe(401);
    expect(page.headers.get('location')).toBeNull();
    expect(await page.text()).toContain('token_invalid');
    const script = await call(`${gw.url}/ws/me/x`, { headers: scriptRequest(me) });
    expect(script.status).toBe(401);
    expect((await script.json()).error).toBe('token_invalid');
    const api = await call(`${gw.url}/api/workspaces/me`, { headers: { authorization: `Bearer ${me}` } });
    expect(api.status).toBe(401);
    expect(seen).toEqual([]);
  });

  it("refuses a SimpleJWT refresh token, while alice's access token still opens her workspace", async () => {
    const refresh = await token('alice', { claims: { token_type: 'refresh', jti: 'r1' }, expiresIn: '1d' });
    const res = await call(`${gw.url}/ws/alice/x`, { headers: scriptRequest(refresh) });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toBe('token_invalid');
    expect(seen).toEqual([]);

    for (const claims of [{ token_type: 'access' }, {}]) {
      const access = await token('alice', { claims });
      const own = await call(`${gw.url}/ws/alice/x`, { headers: scriptRequest(access) });
      expect(own.status).toBe(200);
      expect(await own.text()).toBe('workspace of alice');
    }
    // The prefix is stripped (GATEWAY_STRIP_PREFIX defaults to on).
    expect(seen).toEqual(['GET /x', 'GET /x']);
  });

  it('sends the holder of a valid token from /ws/me/ to their own workspace', async () => {
    const res = await call(`${gw.url}/ws/me/y?z=1`, { headers: pageLoad(await token('alice')) });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/ws/alice/y?z=1');
  });
});
