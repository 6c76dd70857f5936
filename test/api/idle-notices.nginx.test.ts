/**
 * The idle notice behind the one-site nginx deployment (test/support/nginx.ts,
 * the README's config): the page gets its tag, the script and its event stream
 * pass through the edge's `/api/workspaces` location unbuffered, and "Keep
 * working" passes the cross-site write check with the edge's origin.
 * Uses Debian's nginx (scripts/ensure-engine.sh installs it).
 */
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noticeScriptTag } from '../../src/api/idle-notices.js';
import { gatewayInFrontOf, token, type FrontedGateway } from '../support/gateway.js';
import { call } from '../support/http.js';
import { startEdge, type Edge } from '../support/nginx.js';

const PAGE = '<html><head><title>code-server</title></head><body></body></html>';

describe('the idle notice through nginx', () => {
  let gw: FrontedGateway;
  let edge: Edge;
  let jwt: string;
  beforeAll(async () => {
    const editor = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
      res.end(gzipSync(PAGE));
    });
    gw = await gatewayInFrontOf(editor, 'ann', { GATEWAY_IDLE_TIMEOUT: '4s', GATEWAY_IDLE_WARNING: '2s', GATEWAY_TRUSTED_PROXIES: '127.0.0.1' });
    // Nothing of the LMS is asked for here.
    edge = await startEdge({ gatewayUrl: gw.url, lmsUrl: 'http://127.0.0.1:9' });
    jwt = await token('ann');
  });
  afterAll(async () => {
    await edge?.stop();
    await gw?.close();
  });

  it('serves the workbench page with its tag, the script, its events as they happen, and Keep working', async () => {
    const cookie = `workspace_token=${jwt}`;
    const page = await call(`${edge.url}/ws/ann/?folder=/home/coder/project`, { headers: { cookie, accept: 'text/html', 'accept-encoding': 'gzip' } });
    expect(page.body.toString()).toBe(PAGE.replace('</head>', `${noticeScriptTag('ann')}</head>`));
    const script = await call(`${edge.url}/api/workspaces/ann/notice.js`, { headers: { cookie } });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);

    // Each event must arrive when the gateway sends it, not when nginx's buffer fills.
    const opened = Date.now();
    const controller = new AbortController();
    const res = await fetch(`${edge.url}/api/workspaces/ann/notice`, { headers: { cookie }, signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const arrivals: Array<[string, number]> = [];
    let text = '';
    while (!arrivals.some(([e]) => e === 'warning')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
      for (const m of text.matchAll(/^event: (\w+)$/gm)) if (!arrivals.some(([e]) => e === m[1])) arrivals.push([m[1]!, Date.now() - opened]);
    }
    expect(arrivals.map(([e]) => e)).toEqual(['active', 'warning']);
    expect(arrivals[0]![1]).toBeLessThan(1000);

    const kept = await call(`${edge.url}/api/workspaces/ann/keep-working`, {
      method: 'POST',
      headers: { cookie, origin: edge.url, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' },
    });
    expect(kept.status).toBe(200);
    for (;;) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += Buffer.from(value!).toString();
      if (/^event: active$/gm.test(text.slice(text.indexOf('event: warning')))) break;
    }
    controller.abort();
    expect(gw.app.manager.get('ann')!.lastActivityKind).toBe('keep working');
  });
});
