import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayServer } from '../../src/http/server.js';
import { call } from '../support/http.js';
import { rawRequest } from '../support/raw-http.js';

/**
 * Node calls the server's listeners inside its parser's and socket's
 * callbacks: a throw there is an uncaught exception, the end of the process
 * and of everyone's connections. Here the listeners throw on purpose; the
 * test process itself would die if one escaped.
 */
describe('the HTTP server guards its listeners', () => {
  const logged: { msg: string; err?: { message?: string } }[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  const server = createGatewayServer({
    limits: { headersTimeoutMs: 2000, bodyTimeoutMs: 2000, maxConnectionsPerClient: 0 },
    onRequest: (req, res) => {
      if (req.url === '/throw') throw new Error('a bug in a request listener');
      if (req.url === '/throw-late') {
        res.writeHead(200, { 'content-length': 10 });
        res.write('half');
        throw new Error('a bug after the answer began');
      }
      res.end('fine');
    },
    onUpgrade: () => {
      throw new Error('a bug in an upgrade listener');
    },
    logger,
  });
  let url: string;
  let port: number;

  beforeAll(async () => {
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  it('answers 500 for a request whose listener threw, logs it, and serves the next', async () => {
    const failed = await call(`${url}/throw`, { headers: { accept: 'application/json' } });
    expect(failed.status).toBe(500);
    expect(await failed.json()).toMatchObject({ error: 'internal_error' });
    expect(await failed.text()).not.toContain('a bug');
    expect(logged.some((l) => l.err?.message === 'a bug in a request listener')).toBe(true);
    expect((await call(`${url}/fine`)).status).toBe(200);
  });

  it('cuts a started answer short when its listener threw after it began', async () => {
    await expect(call(`${url}/throw-late`)).rejects.toThrow();
    expect((await call(`${url}/fine`)).status).toBe(200);
  });

  it('refuses an upgrade whose listener threw, and keeps serving', async () => {
    const res = await rawRequest(
      port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(res.status).toBe(500);
    expect(logged.some((l) => l.err?.message === 'a bug in an upgrade listener')).toBe(true);
    expect((await call(`${url}/fine`)).status).toBe(200);
  });
});
