import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayInFrontOf, token, type TestGateway } from '../support/gateway.js';
import { rawRequest } from '../support/raw-http.js';

/**
 * What the README promises about encoded paths (issue #11, finding 8): the
 * user segment is decoded once and must be a user id, so `%2F`, double
 * encoding and backslashes there are 400; past it the path goes unchanged to
 * that user's own workspace (it cannot select anyone else's); dot segments,
 * however written or delimited, are 400 anywhere, and never reach a workspace.
 */
describe('encoded paths through the gateway', () => {
  /** The paths that reached alice's workspace, as it got them. */
  const seen: string[] = [];
  let gw: TestGateway;
  let port: number;
  let cookie: string;

  beforeAll(async () => {
    const workspace = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end('ok');
    });
    gw = await gatewayInFrontOf(workspace, 'alice');
    port = gw.port;
    cookie = `workspace_token=${await token('alice')}`;
  });
  afterAll(() => gw?.close());

  const get = (target: string) =>
    rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: gw\r\nCookie: ${cookie}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);

  it.each([
    ['/ws/alice/static/a%2Fb', '/static/a%2Fb'],
    ['/ws/alice/x/a%252Fb', '/x/a%252Fb'],
    ['/ws/alice/x\\y', '/x\\y'],
    ['/ws/alice/x%5Cy?q=%2F', '/x%5Cy?q=%2F'],
  ])("%s reaches alice's own workspace as %s", async (target, upstream) => {
    const res = await get(target);
    expect(res.status).toBe(200);
    expect(seen.at(-1)).toBe(upstream);
  });

  it.each([
    ['/ws/alice%2Fbob/'],
    ['/ws/alice%252Fbob/'],
    ['/ws/alice%5Cbob/'],
    ['/ws/alice\\bob/'],
    ['/ws/alice/a/../b'],
    ['/ws/alice/a/%2e%2e/b'],
    ['/ws/alice/a%2F..%2Fb'],
    ['/ws/alice/a\\..\\b'],
    ['/ws/alice/a%5C.%5Cb'],
  ])('%s → 400, nothing forwarded', async (target) => {
    const before = seen.length;
    const res = await get(target);
    expect(res.status).toBe(400);
    expect(seen.length).toBe(before);
    // And the gateway goes on serving.
    expect((await get('/ws/alice/after')).status).toBe(200);
  });
});
