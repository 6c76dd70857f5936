import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { gatewayInFrontOf, openWebSocket, token, type FrontedGateway, type TestGateway } from '../support/gateway.js';
import { call } from '../support/http.js';
import { recordingWorkspace } from '../support/stand-in-workspace.js';

/**
 * Finding 4 of issue #11: connections held open by anyone. Each limit is
 * tried with real sockets against a gateway in front of a test backend that
 * records what reached it, with small limits set the operator's way.
 */

/** A raw client: what it received and when, while it may go on sending. */
interface RawClient {
  socket: Socket;
  received: () => string;
  /** ms since start when the first byte of an answer arrived. */
  answeredAt?: number;
  /** Resolves with ms since start once the connection is closed (FIN or RST). */
  closed: Promise<number>;
  connected: Promise<void>;
  /** Body bytes written after the answer arrived. */
  sentAfterAnswer: number;
}

/**
 * `hostile`: goes on sending after the gateway's FIN (half-open), where a
 * well-behaved client closes its side too; then only the gateway's destroy
 * closes the connection.
 */
function rawClient(port: number, { localAddress = '127.0.0.1', hostile = false } = {}): RawClient {
  const started = Date.now();
  const socket = connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: hostile });
  let text = '';
  const client: RawClient = {
    socket,
    received: () => text,
    closed: new Promise((ok) => socket.once('close', () => ok(Date.now() - started))),
    connected: new Promise((ok) => socket.once('connect', () => ok())),
    sentAfterAnswer: 0,
  };
  socket.on('data', (chunk) => {
    client.answeredAt ??= Date.now() - started;
    text += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  return client;
}

/** Writes one byte every `everyMs` until the connection closes. */
function dribble(client: RawClient, everyMs: number): void {
  const timer = setInterval(() => {
    if (client.socket.destroyed || !client.socket.writable) return clearInterval(timer);
    client.socket.write('x');
    if (client.answeredAt !== undefined) client.sentAfterAnswer++;
  }, everyMs);
  client.socket.once('close', () => clearInterval(timer));
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const bodyOf = (text: string) => text.slice(text.indexOf('\r\n\r\n') + 4);
const headersOf = (text: string) => text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();

describe('limits on what a client can hold open', () => {
  /** What reached the workspace backend: `METHOD path bodyLength` or `UPGRADE path`. */
  const seen: string[] = [];
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    [alice, bob] = await Promise.all([token('alice'), token('bob')]);
  });

  /** A gateway where alice's and bob's workspaces run, both at a backend of its own that notes into `seen` and echoes WebSocket messages. */
  async function gateway(env: Record<string, string>): Promise<{ gw: FrontedGateway; port: number }> {
    const backend = recordingWorkspace(seen);
    const wss = new WebSocketServer({ noServer: true });
    backend.on('upgrade', (req: IncomingMessage, socket, head) => {
      seen.push(`UPGRADE ${req.url}`);
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(m)));
    });
    const gw = await gatewayInFrontOf(backend, ['alice', 'bob'], env);
    return { gw, port: gw.port };
  }

  describe('an unauthenticated body', () => {
    let gw: TestGateway;
    let port: number;
    beforeAll(async () => ({ gw, port } = await gateway({})));
    afterAll(() => gw.close());

    it.each([
      ['JSON', 'application/json'],
      ['a browser page', 'text/html'],
    ])('is never read: the 401 (%s) goes out and the connection closes while the client keeps sending', async (_kind, accept) => {
      const before = seen.length;
      const client = rawClient(port, { hostile: true });
      client.socket.write(`POST /ws/alice/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${accept}\r\nContent-Length: 100000000\r\n\r\n`);
      dribble(client, 20);
      // Meanwhile the owner is served as ever.
      const served = await call(`${gw.url}/ws/alice/ok`, { headers: { cookie: `workspace_token=${alice}`, accept: 'application/json' } });
      expect(served.status).toBe(200);

      const closedAt = await client.closed;
      expect(statusOf(client.received())).toBe(401);
      if (accept === 'application/json') {
        expect(headersOf(client.received())).toContain('connection: close');
        expect(JSON.parse(bodyOf(client.received()))).toMatchObject({ error: expect.stringMatching(/^token_/), message: expect.any(String) });
      }
      // Closed a grace after the answer, not after 100 MB: the client was still sending when it happened.
      expect(closedAt - client.answeredAt!).toBeLessThan(3000);
      expect(client.sentAfterAnswer).toBeGreaterThan(5);
      expect(seen.slice(before).filter((s) => !s.includes('/ok'))).toEqual([]);
    });

    it('reaches a client that is busy sending and reads its answer only a moment later', async () => {
      // Destroying the connection right after the answer (Node's way with `Connection: close`) makes the
      // kernel reset it over the unread body, and this client would see no answer at all.
      const client = rawClient(port, { hostile: true });
      client.socket.pause();
      client.socket.write(`POST /ws/alice/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nContent-Length: 100000000\r\n\r\n`);
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const flood = setInterval(() => client.socket.writable && client.socket.write(chunk), 5);
      await new Promise((r) => setTimeout(r, 300));
      client.socket.resume();
      await client.closed;
      clearInterval(flood);
      expect(statusOf(client.received())).toBe(401);
    });

    it('is not read for any other early answer either (413 of an API call)', async () => {
      const client = rawClient(port, { hostile: true });
      client.socket.write(
        `POST /api/workspaces/me/start HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: workspace_token=${alice}\r\nAccept: application/json\r\nContent-Length: 100000000\r\n\r\n`,
      );
      dribble(client, 20);
      const closedAt = await client.closed;
      expect(statusOf(client.received())).toBe(413);
      expect(headersOf(client.received())).toContain('connection: close');
      expect(closedAt - client.answeredAt!).toBeLessThan(3000);
    });
  });

  describe('the body timeout', () => {
    let gw: TestGateway;
    let port: number;
    beforeAll(async () => ({ gw, port } = await gateway({ GATEWAY_BODY_TIMEOUT: '1s' })));
    afterAll(() => gw.close());

    it('closes an authenticated body that stops (408), while other users are served', async () => {
      const before = seen.length;
      const client = rawClient(port);
      client.socket.write(
        `POST /ws/alice/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: workspace_token=${alice}\r\nAccept: application/json\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(10)}`,
      );
      const others = await Promise.all(
        [1, 2, 3].map(() => call(`${gw.url}/ws/bob/ok`, { headers: { cookie: `workspace_token=${bob}`, accept: 'application/json' } })),
      );
      expect(others.map((r) => r.status)).toEqual([200, 200, 200]);

      const closedAt = await client.closed;
      expect(statusOf(client.received())).toBe(408);
      expect(JSON.parse(bodyOf(client.received()))).toMatchObject({ error: 'body_timeout' });
      // The timeout (1 s), at most one sweep (250 ms) and the grace (1 s).
      expect(client.answeredAt!).toBeGreaterThanOrEqual(950);
      expect(closedAt).toBeLessThan(3500);
      // The workspace never got a whole request.
      expect(seen.slice(before).filter((s) => s.startsWith('POST /upload'))).toEqual([]);
    });

    it('lets a slow body through as long as it keeps coming, longer in all than the timeout', async () => {
      const client = rawClient(port);
      const body = 'abcdefgh';
      client.socket.write(
        `POST /ws/alice/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: workspace_token=${alice}\r\nAccept: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      for (const byte of body) {
        await new Promise((r) => setTimeout(r, 300));
        client.socket.write(byte);
      }
      await client.closed;
      expect(statusOf(client.received())).toBe(200);
      expect(JSON.parse(bodyOf(client.received()))).toEqual({ method: 'POST', url: '/slow', bodyLength: body.length, headers: expect.any(Object) });
    });
  });

  describe('the restore timeout', () => {
    let gw: FrontedGateway;
    let port: number;
    beforeAll(async () => {
      ({ gw, port } = await gateway({ GATEWAY_RESTORE_TIMEOUT: '1s', GATEWAY_BODY_TIMEOUT: '5s' }));
      // A restore needs a runtime that keeps files.
      gw.runtime.keepFiles();
    });
    afterAll(() => gw.close());

    it('ends a restore that takes longer in all (408), however steadily its body comes', async () => {
      const admin = await token('staff', { claims: { is_staff: true } });
      // A valid start of a tar.gz: nothing fails before the deadline does.
      const archive = gzipSync(Buffer.alloc(1 << 20));
      const client = rawClient(port);
      client.socket.write(
        `PUT /api/workspaces/alice/backup HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: workspace_token=${admin}\r\nAccept: application/json\r\nContent-Type: application/gzip\r\nContent-Length: ${archive.length}\r\n\r\n`,
      );
      let sent = 0;
      const steady = setInterval(() => client.socket.writable && client.socket.write(archive.subarray(sent, (sent += 16))), 100);
      await client.closed;
      clearInterval(steady);
      expect(statusOf(client.received())).toBe(408);
      expect(JSON.parse(bodyOf(client.received()))).toMatchObject({ error: 'restore_timeout', message: expect.stringContaining('GATEWAY_RESTORE_TIMEOUT') });
      expect(client.answeredAt!).toBeGreaterThanOrEqual(950);
      expect(client.answeredAt!).toBeLessThan(2500);
    });
  });

  describe('the cap on connections per client address', () => {
    let gw: TestGateway;
    let port: number;
    beforeAll(async () => ({ gw, port } = await gateway({ GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '3', GATEWAY_TRUSTED_PROXIES: '127.0.0.3' })));
    afterAll(() => gw.close());

    it('answers the connection beyond it 429 and closes it; the others and other addresses are served', async () => {
      const held = [rawClient(port), rawClient(port), rawClient(port)];
      await Promise.all(held.map((c) => c.connected));

      const extra = rawClient(port);
      extra.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await extra.closed;
      expect(statusOf(extra.received())).toBe(429);
      expect(headersOf(extra.received())).toContain('connection: close');
      expect(JSON.parse(bodyOf(extra.received()))).toMatchObject({ error: 'too_many_connections', message: expect.stringContaining('3 connections') });

      // The three held connections still work.
      held[0]!.socket.write(`GET /ws/alice/held HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: workspace_token=${alice}\r\nAccept: application/json\r\n\r\n`);
      await vi.waitFor(() => expect(held[0]!.received()).toContain('bodyLength'), { timeout: 3000, interval: 20 });
      expect(statusOf(held[0]!.received())).toBe(200);

      // Another address is not affected.
      const other = rawClient(port, { localAddress: '127.0.0.2' });
      other.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      await other.closed;
      expect(statusOf(other.received())).toBe(200);

      // A closed connection makes room again (once the gateway has seen it close).
      held[1]!.socket.destroy();
      const healthz = async (): Promise<number> => {
        const c = rawClient(port);
        c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
        await c.closed;
        return statusOf(c.received());
      };
      let status = await healthz();
      for (let i = 0; i < 20 && status === 429; i++) status = await healthz();
      expect(status).toBe(200);
      for (const c of held) c.socket.destroy();
    });

    it('does not count a trusted edge proxy, which every client comes through', async () => {
      const viaProxy = Array.from({ length: 5 }, () => rawClient(port, { localAddress: '127.0.0.3' }));
      await Promise.all(viaProxy.map((c) => c.connected));
      for (const c of viaProxy) c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      await Promise.all(viaProxy.map((c) => c.closed));
      expect(viaProxy.map((c) => statusOf(c.received()))).toEqual([200, 200, 200, 200, 200]);
    });
  });

  describe('the cap on WebSockets per user', () => {
    let gw: TestGateway;
    beforeAll(async () => ({ gw } = await gateway({ GATEWAY_MAX_WEBSOCKETS_PER_USER: '2' })));
    afterAll(() => gw.close());

    it('refuses the one beyond it with 429 before the workspace sees it; another user still opens one', async () => {
      const open = [
        await openWebSocket(`${gw.wsUrl}/ws/alice/alice-1`, { cookie: `workspace_token=${alice}` }),
        await openWebSocket(`${gw.wsUrl}/ws/alice/alice-2`, { cookie: `workspace_token=${alice}` }),
      ];
      expect(open.every((r) => r.socket)).toBe(true);

      const refused = await openWebSocket(`${gw.wsUrl}/ws/alice/alice-3`, { cookie: `workspace_token=${alice}` });
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body!)).toMatchObject({ error: 'too_many_websockets', message: expect.stringContaining('2 live connections') });
      expect(seen.filter((s) => s.startsWith('UPGRADE /alice'))).toEqual(['UPGRADE /alice-1', 'UPGRADE /alice-2']);

      const other = await openWebSocket(`${gw.wsUrl}/ws/bob/bob-1`, { cookie: `workspace_token=${bob}` });
      expect(other.socket).toBeDefined();
      expect(seen).toContain('UPGRADE /bob-1');

      // One closed: room for one more.
      open[0]!.socket!.close();
      // The server sees a close a moment after the client.
      await vi.waitFor(() => expect(open[0]!.socket!.readyState).toBe(open[0]!.socket!.CLOSED), { timeout: 3000, interval: 20 });
      let reopened = await openWebSocket(`${gw.wsUrl}/ws/alice/alice-4`, { cookie: `workspace_token=${alice}` });
      for (let i = 0; i < 20 && reopened.status === 429; i++) {
        await new Promise((r) => setTimeout(r, 50));
        reopened = await openWebSocket(`${gw.wsUrl}/ws/alice/alice-4`, { cookie: `workspace_token=${alice}` });
      }
      expect(reopened.socket).toBeDefined();
      for (const r of [...open, other, reopened]) r.socket?.terminate();
    });
  });
});
