import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { noticeScriptTag } from '../../src/api/idle-notices.js';
import { injectablePage, MAX_INJECTED_PAGE_BYTES, withTag } from '../../src/proxy/page-injection.js';
import { gatewayInFrontOf, token, type FrontedGateway } from '../support/gateway.js';
import { call } from '../support/http.js';

const WORKBENCH = '<!DOCTYPE html>\n<html>\n\t<head>\n\t\t<meta charset="utf-8" />\n\t</head>\n\t<body aria-label="">\n\t</body>\n</html>\n';
const TAG = noticeScriptTag('ann');

type Encoding = 'identity' | 'gzip' | 'br' | 'deflate' | 'rawdeflate';

function encode(body: Buffer, encoding: Encoding): Buffer {
  if (encoding === 'gzip') return gzipSync(body);
  if (encoding === 'br') return brotliCompressSync(body);
  if (encoding === 'deflate') return deflateSync(body);
  if (encoding === 'rawdeflate') return deflateRawSync(body);
  return body;
}

/**
 * A stand-in code-server: `/?enc=<encoding>[&chunked][&type=…][&big][&nohead]`
 * answers the workbench page so; any other path answers the same HTML.
 */
function workbench(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const encoding = (url.searchParams.get('enc') ?? 'identity') as Encoding;
  let html = url.searchParams.has('nohead') ? '<html><body>no head here</body></html>' : WORKBENCH;
  if (url.searchParams.has('big')) html = html.replace('</body>', `${'x'.repeat(MAX_INJECTED_PAGE_BYTES + 10)}</body>`);
  if (url.searchParams.has('upper')) html = html.replace('</head>', '</HEAD>');
  const body = encode(Buffer.from(html), encoding);
  const headers: Record<string, string> = {
    'content-type': url.searchParams.get('type') ?? 'text/html',
    'content-security-policy': "script-src 'self'",
    etag: '"abc"',
  };
  if (encoding !== 'identity') headers['content-encoding'] = encoding === 'rawdeflate' ? 'deflate' : encoding;
  if (!url.searchParams.has('chunked')) headers['content-length'] = String(body.length);
  res.writeHead(200, headers);
  if (url.searchParams.has('chunked')) {
    // In pieces, as code-server streams its compressed page.
    const half = Math.floor(body.length / 2);
    res.write(body.subarray(0, half));
    setTimeout(() => res.end(body.subarray(half)), 10);
  } else res.end(req.method === 'HEAD' ? undefined : body);
}

describe('the idle notice script in the workbench page', () => {
  let gw: FrontedGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  async function page(path: string, init: { method?: string; env?: Record<string, string> } = {}) {
    gw ??= await gatewayInFrontOf(createServer(workbench), 'ann', init.env);
    const jwt = await token('ann');
    return call(`${gw.url}/ws/ann${path}`, {
      method: init.method,
      headers: { cookie: `workspace_token=${jwt}`, accept: 'text/html', 'accept-encoding': 'gzip, deflate, br' },
    });
  }

  for (const encoding of ['identity', 'gzip', 'br', 'deflate', 'rawdeflate'] as const) {
    for (const chunked of [false, true]) {
      it(`adds one script tag before </head> of the workspace root's page (${encoding}${chunked ? ', chunked' : ''}), sent uncompressed with its length`, async () => {
        const res = await page(`/?folder=/home/coder/project&enc=${encoding}${chunked ? '&chunked' : ''}`);
        expect(res.status).toBe(200);
        const html = res.body.toString();
        expect(html).toBe(WORKBENCH.replace('</head>', `${TAG}</head>`));
        expect(res.headers.get('content-encoding')).toBeNull();
        expect(res.headers.get('content-length')).toBe(String(res.body.length));
        expect(res.headers.get('etag')).toBeNull();
        // The editor's own headers (its CSP) pass as they were.
        expect(res.headers.get('content-security-policy')).toBe("script-src 'self'");
      });
    }
  }

  it('finds </HEAD> in any letter case', async () => {
    const html = (await page('/?enc=gzip&upper')).body.toString();
    expect(html).toContain(`${TAG}</HEAD>`);
  });

  it('leaves other paths, other content types, HEAD, pages without </head> and oversized pages as they came', async () => {
    const other = await page('/static/index.html?enc=gzip');
    expect(other.headers.get('content-encoding')).toBe('gzip');
    expect(other.body).toEqual(gzipSync(Buffer.from(WORKBENCH)));
    const json = await page('/?type=application/json');
    expect(json.body.toString()).toBe(WORKBENCH);
    const head = await page('/?enc=identity', { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(WORKBENCH.length));
    const noHead = await page('/?nohead&enc=br&chunked');
    expect(noHead.headers.get('content-encoding')).toBe('br');
    expect(noHead.body).toEqual(brotliCompressSync(Buffer.from('<html><body>no head here</body></html>')));
    for (const path of ['/?big', '/?big&chunked']) {
      const big = await page(path);
      expect(big.body.length).toBe(WORKBENCH.length + MAX_INJECTED_PAGE_BYTES + 10);
      expect(big.body.toString()).not.toContain(TAG);
    }
  });

  it('adds nothing with GATEWAY_IDLE_WARNING=0', async () => {
    const res = await page('/?enc=gzip', { env: { GATEWAY_IDLE_WARNING: '0' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(res.body).toEqual(gzipSync(Buffer.from(WORKBENCH)));
  });
});

describe('page-injection', () => {
  it('takes 200 HTML answers in the encodings it reads, declared within the bound', () => {
    expect(injectablePage(200, ['Content-Type', 'text/html; charset=utf-8'])).toBe('identity');
    expect(injectablePage(200, ['content-type', 'text/html', 'Content-Encoding', 'x-gzip'])).toBe('gzip');
    expect(injectablePage(304, ['content-type', 'text/html'])).toBeUndefined();
    expect(injectablePage(200, ['content-type', 'text/plain'])).toBeUndefined();
    expect(injectablePage(200, ['content-type', 'text/html', 'content-encoding', 'zstd'])).toBeUndefined();
    expect(injectablePage(200, ['content-type', 'text/html', 'content-encoding', 'gzip, br'])).toBeUndefined();
    expect(injectablePage(200, ['content-type', 'text/html', 'content-length', String(MAX_INJECTED_PAGE_BYTES + 1)])).toBeUndefined();
  });

  it('refuses a small body that unpacks beyond the bound, and a broken one', () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from('<head></head>'), Buffer.alloc(MAX_INJECTED_PAGE_BYTES + 1)]));
    expect(bomb.length).toBeLessThan(10_000);
    expect(withTag(bomb, 'gzip', TAG)).toBeUndefined();
    expect(withTag(Buffer.from('not gzip'), 'gzip', TAG)).toBeUndefined();
  });
});
