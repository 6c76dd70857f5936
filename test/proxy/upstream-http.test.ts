import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { gatewayInFrontOf, scriptRequest, token, type TestGateway } from '../support/gateway.js';
import { call } from '../support/http.js';

/**
 * The gateway's HTTP/1.1 client towards workspaces (Node's native parser
 * over keep-alive connections), against workspaces that answer in every
 * shape HTTP allows.
 */
describe('talking HTTP to a workspace', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  /** A gateway in front of `server` as ana's workspace; closing the gateway closes the server. */
  async function gatewayFor(server: Server | TcpServer): Promise<{ gw: TestGateway; jwt: string }> {
    gw = await gatewayInFrontOf(server, 'ana');
    return { gw, jwt: await token('ana') };
  }

  /** A workspace that writes these raw answers, one per request, on one connection. */
  function rawWorkspace(answers: string[], closeAfter = false): TcpServer {
    return createTcpServer((socket) => {
      let pending = '';
      let next = 0;
      socket.on('data', (chunk) => {
        pending += chunk.toString('latin1');
        while (pending.includes('\r\n\r\n') && next < answers.length) {
          pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
          socket.write(answers[next++]!);
          if (closeAfter) socket.end();
        }
      });
      socket.on('error', () => {});
    });
  }

  it('passes on HEAD answers without waiting for a body, 204 and 304 too', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/none') return res.writeHead(204).end();
      if (req.url === '/same') return res.writeHead(304, { etag: '"1"' }).end();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
      res.end(req.method === 'HEAD' ? undefined : 'hello world');
    });
    const { gw, jwt } = await gatewayFor(server);
    for (let i = 0; i < 3; i++) {
      const head = await call(`${gw.url}/ws/ana/file`, { method: 'HEAD', headers: scriptRequest(jwt) });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe('11');
      expect((await call(`${gw.url}/ws/ana/none`, { headers: scriptRequest(jwt) })).status).toBe(204);
      expect((await call(`${gw.url}/ws/ana/same`, { headers: scriptRequest(jwt) })).headers.get('etag')).toBe('"1"');
      expect((await call(`${gw.url}/ws/ana/file`, { headers: scriptRequest(jwt) })).body.toString()).toBe('hello world');
    }
  });

  it('forwards a chunked upload intact and re-frames a chunked answer', async () => {
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      res.writeHead(200, { 'content-type': 'text/plain' });
      // No content-length: the workspace answers chunked, in pieces.
      const body = Buffer.concat(chunks);
      res.write(`${req.headers['transfer-encoding'] ?? 'none'}:${body.length}:`);
      res.write(body.subarray(0, 10));
      setTimeout(() => res.end(body.subarray(10)), 20);
    });
    const { gw, jwt } = await gatewayFor(server);
    const payload = Buffer.alloc(200_000, 'p');
    const answer = await new Promise<{ res: IncomingMessage; body: Buffer }>((resolve, reject) => {
      const req = request(`${gw.url}/ws/ana/upload`, { method: 'POST', headers: scriptRequest(jwt) }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ res, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      // Written in pieces without a length: Node sends it chunked.
      req.write(payload.subarray(0, 1000));
      setTimeout(() => req.end(payload.subarray(1000)), 20);
    });
    expect(answer.res.statusCode).toBe(200);
    expect(answer.res.headers['transfer-encoding']).toBe('chunked');
    expect(answer.body.toString('latin1')).toBe(`chunked:200000:${payload.toString('latin1')}`);
  });

  it('skips informational answers, reads a body that ends with the connection, and takes more than 32 headers', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `X-Header-${i}: value-${i}\r\n`).join('');
    const server = rawWorkspace(
      [
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
          `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${many}Connection: close\r\n\r\nuntil the end`,
      ],
      true,
    );
    const { gw, jwt } = await gatewayFor(server);
    const res = await call(`${gw.url}/ws/ana/`, { headers: scriptRequest(jwt) });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('until the end');
    for (let i = 0; i < 40; i++) expect(res.headers.get(`x-header-${i}`)).toBe(`value-${i}`);
  });

  it('sends a GET again on a fresh connection when a kept-alive one breaks before answering', async () => {
    let connections = 0;
    // Each connection answers one request and drops the next one unanswered: a workspace that
    // closed an idle connection just as the gateway reused it.
    const server = createTcpServer((socket) => {
      connections++;
      let requests = 0;
      socket.on('data', () => (++requests === 1 ? socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine') : socket.destroy()));
      socket.on('error', () => {});
    });
    const { gw, jwt } = await gatewayFor(server);
    for (let i = 0; i < 5; i++) {
      const res = await call(`${gw.url}/ws/ana/`, { headers: scriptRequest(jwt) });
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('fine');
    }
    expect(connections).toBeGreaterThanOrEqual(5);
    // A request with a body is not sent twice: the workspace may have acted on it.
    const post = await call(`${gw.url}/ws/ana/`, {
      method: 'POST',
      headers: scriptRequest(jwt, { 'content-length': '2', accept: 'application/json' }),
      body: 'hi',
    });
    expect(post.status).toBe(502);
  });

  it('passes on a body of known length that comes in pieces, and breaks off one that is cut short', async () => {
    const server = createTcpServer((socket) => {
      socket.on('data', (request) => {
        if (request.toString().startsWith('GET /short')) {
          socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b');
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n');
        let sent = 0;
        const timer = setInterval(() => {
          socket.write(Buffer.alloc(3000, 48 + sent / 3000));
          if ((sent += 3000) === 30000) clearInterval(timer);
        }, 5);
      });
      socket.on('error', () => {});
    });
    const { gw, jwt } = await gatewayFor(server);
    const res = await call(`${gw.url}/ws/ana/pieces`, { headers: scriptRequest(jwt) });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(Array.from({ length: 10 }, (_, i) => String(i).repeat(3000)).join(''));
    await expect(call(`${gw.url}/ws/ana/short`, { headers: scriptRequest(jwt) })).rejects.toThrow(/incomplete|aborted|socket hang up|ECONNRESET/);
  });

  it('answers 502 when the workspace breaks off before answering, and keeps serving', async () => {
    let calls = 0;
    const server = rawWorkspace([]);
    server.removeAllListeners('connection');
    server.on('connection', (socket) => {
      socket.once('data', () => (++calls === 1 ? socket.destroy() : socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')));
    });
    const { gw, jwt } = await gatewayFor(server);
    expect((await call(`${gw.url}/ws/ana/`, { headers: scriptRequest(jwt, { accept: 'application/json' }) })).status).toBe(502);
    const next = await call(`${gw.url}/ws/ana/`, { headers: scriptRequest(jwt) });
    expect(next.status).toBe(200);
    expect(next.body.toString()).toBe('ok');
  });
});
