import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayProcess } from '../support/gateway-process.js';
import { openWebSocket, pageLoad, token, type WsResult } from '../support/gateway.js';
import { freePort, visit } from '../support/http.js';

/**
 * The limits of connection-limits.test.ts in a cluster (GATEWAY_WORKERS=2,
 * process runtime): an unauthenticated body passes from a worker to the
 * leader and is still not read; each worker counts its own connections and
 * WebSockets.
 */
describe('limits on what a client can hold open, in a cluster', () => {
  const WORKERS = 2;
  const MAX_CONNECTIONS = 3;
  const MAX_WEBSOCKETS = 2;
  let gateway: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    gateway = await GatewayProcess.start({
      workers: WORKERS,
      port,
      env: { GATEWAY_BODY_TIMEOUT: '1s', GATEWAY_MAX_CONNECTIONS_PER_CLIENT: String(MAX_CONNECTIONS), GATEWAY_MAX_WEBSOCKETS_PER_USER: String(MAX_WEBSOCKETS) },
    });
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
  });

  /** Sends `head` (and goes on sending a byte every 20 ms with `dribble`); resolves with what came back and when it closed. */
  function rawExchange(
    head: string,
    { dribble = false, keepOpen = false } = {},
  ): { socket: Socket; received: () => string; done: Promise<{ text: string; answeredAfterMs: number; closedAfterMs: number }> } {
    const started = Date.now();
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: dribble });
    let text = '';
    let answeredAfterMs = -1;
    socket.on('data', (c) => {
      if (answeredAfterMs < 0) answeredAfterMs = Date.now() - started;
      text += c.toString('latin1');
    });
    socket.on('error', () => {});
    socket.write(head);
    const timer = dribble ? setInterval(() => socket.writable && socket.write('x'), 20) : undefined;
    const done = new Promise<{ text: string; answeredAfterMs: number; closedAfterMs: number }>((ok) =>
      socket.once('close', () => {
        clearInterval(timer);
        ok({ text, answeredAfterMs, closedAfterMs: Date.now() - started });
      }),
    );
    if (!keepOpen) setTimeout(() => socket.destroy(), 10_000).unref();
    return { socket, received: () => text, done };
  }

  it('answers an unauthenticated body 401 and closes while the client keeps sending, and cuts a stalled authenticated one (408)', async () => {
    const unauthenticated = rawExchange('POST /ws/alice/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nContent-Length: 100000000\r\n\r\n', {
      dribble: true,
    });
    const alice = await token('alice');
    expect((await visit(`${gateway.url}/ws/alice/`, { headers: pageLoad(alice) })).status).toBe(200);
    // The workers learn of the running workspace within 100 ms; then they forward to it themselves.
    await new Promise((r) => setTimeout(r, 300));
    const stalled = rawExchange(
      `POST /ws/alice/__echo HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: workspace_token=${alice}\r\nAccept: application/json\r\nContent-Length: 1000\r\n\r\nabc`,
    );

    const first = await unauthenticated.done;
    expect(first.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(first.closedAfterMs - first.answeredAfterMs).toBeLessThan(3000);
    const second = await stalled.done;
    expect(second.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(second.text).toContain('body_timeout');
    expect(second.closedAfterMs).toBeLessThan(5000);
    expect(gateway.alive(), gateway.exitReport()).toBe(true);
  });

  it('caps connections per client address in each worker', async () => {
    const attempts = Array.from({ length: MAX_CONNECTIONS * WORKERS + 1 }, () =>
      rawExchange('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', { keepOpen: true }),
    );
    // Answered ones stay open (keep-alive) and keep their place; refused ones are closed by the gateway.
    await new Promise((r) => setTimeout(r, 1500));
    const texts = attempts.map((a) => a.received());
    const closed = attempts.map((a) => a.socket.destroyed);
    for (const a of attempts) a.socket.destroy();
    const served = texts.filter((t) => t.startsWith('HTTP/1.1 200')).length;
    const refused = texts.filter((t, i) => closed[i] && t.startsWith('HTTP/1.1 429') && t.includes('too_many_connections')).length;
    // Every worker serves up to the cap; one more than all of them hold is refused, with its sentence.
    expect(served).toBeGreaterThanOrEqual(MAX_CONNECTIONS);
    expect(served).toBeLessThanOrEqual(MAX_CONNECTIONS * WORKERS);
    expect(refused).toBe(attempts.length - served);
  });

  it('caps WebSockets per user in each process, and another user still opens one', async () => {
    const [carol, dave] = await Promise.all([token('carol'), token('dave')]);
    for (const [user, jwt] of [
      ['carol', carol],
      ['dave', dave],
    ] as const)
      expect((await visit(`${gateway.url}/ws/${user}/`, { headers: pageLoad(jwt) })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const results: WsResult[] = [];
    // One at a time, each its own connection: the cluster spreads them over the workers.
    for (let i = 0; i < 10; i++)
      results.push(await openWebSocket(`${gateway.url.replace('http', 'ws')}/ws/carol/socket`, { cookie: `workspace_token=${carol}` }));
    const open = results.filter((r) => r.socket).length;
    const refused = results.filter((r) => r.status === 429);
    // Each worker (and the leader, for any it forwarded) allows MAX_WEBSOCKETS.
    expect(open).toBeGreaterThanOrEqual(MAX_WEBSOCKETS);
    expect(open).toBeLessThanOrEqual(MAX_WEBSOCKETS * (WORKERS + 1));
    expect(refused.length).toBe(results.length - open);
    expect(JSON.parse(refused[0]!.body!)).toMatchObject({ error: 'too_many_websockets' });
    const other = await openWebSocket(`${gateway.url.replace('http', 'ws')}/ws/dave/socket`, { cookie: `workspace_token=${dave}` });
    expect(other.socket).toBeDefined();
    for (const r of [...results, other]) r.socket?.terminate();
    expect(gateway.alive(), gateway.exitReport()).toBe(true);
  });
});
