import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { gatewayInFrontOf, token, type TestGateway } from '../support/gateway.js';
import { rawUpgradeServer } from '../support/stand-in-workspace.js';

/** A workspace that answers any upgrade with 101 and then hands its raw socket to the test. */
function switchingWorkspace(onSocket: (socket: Socket) => void): Server {
  // Half-open allowed, like a WebSocket server that finishes sending after the client's FIN.
  return rawUpgradeServer(
    (socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      onSocket(socket);
    },
    { allowHalfOpen: true },
  );
}

/** The client side of an upgrade through the gateway, as a raw socket after the 101. */
async function upgradeThrough(gw: TestGateway, user: string): Promise<Socket> {
  const jwt = await token(user);
  const socket = connect(gw.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    `GET /ws/${user}/ HTTP/1.1\r\nHost: ${new URL(gw.url).host}\r\nCookie: workspace_token=${jwt}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) head += ((await once(socket, 'data')) as [Buffer])[0].toString('latin1');
  // Flowing with no listener would drop what comes next.
  socket.pause();
  expect(head).toMatch(/^HTTP\/1\.1 101/);
  return socket;
}

/** The workspace's end of the next upgraded connection. */
function nextSocket(): { promise: Promise<Socket>; resolve: (s: Socket) => void } {
  let resolve!: (s: Socket) => void;
  const promise = new Promise<Socket>((ok) => (resolve = ok));
  return { promise, resolve };
}

function sha(chunks: Buffer[]): string {
  return createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
}

describe('WebSocket relay', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('carries 16 MiB each way intact while the workspace reads slowly, with backpressure', async () => {
    const upstreamSide = nextSocket();
    gw = await gatewayInFrontOf(
      switchingWorkspace((s) => upstreamSide.resolve(s)),
      'relay',
    );

    const client = await upgradeThrough(gw, 'relay');
    const upstream = await upstreamSide.promise;
    // Random bytes: the frame scanner sees garbage "frames" and must not care.
    const up = Array.from({ length: 64 }, () => randomBytes(256 * 1024));
    const down = Array.from({ length: 64 }, () => randomBytes(256 * 1024));
    for (const chunk of up) client.write(chunk);
    for (const chunk of down) upstream.write(chunk);

    // The workspace does not read for a while: what the client sent waits in the gateway's
    // paused socket and in the kernel, not in an ever-growing queue in the gateway.
    await new Promise((r) => setTimeout(r, 300));
    const gatewaySockets = [...gw.app.sockets.all()];
    expect(gatewaySockets).toHaveLength(1);
    expect(gatewaySockets[0]!.isPaused()).toBe(true);

    const receivedUp: Buffer[] = [];
    const receivedDown: Buffer[] = [];
    let upBytes = 0;
    let downBytes = 0;
    const total = 64 * 256 * 1024;
    const upDone = new Promise<void>((ok) => upstream.on('data', (c: Buffer) => (receivedUp.push(c), (upBytes += c.length) === total && ok())));
    const downDone = new Promise<void>((ok) => client.on('data', (c: Buffer) => (receivedDown.push(c), (downBytes += c.length) === total && ok())));
    upstream.resume();
    client.resume();
    await Promise.all([upDone, downDone]);
    expect(sha(receivedUp)).toBe(sha(up));
    expect(sha(receivedDown)).toBe(sha(down));
    client.destroy();
  });

  it('passes a half-close on, and closes the client when the workspace goes', async () => {
    const upstreamSide = nextSocket();
    const workspace = switchingWorkspace((s) => {
      s.resume();
      upstreamSide.resolve(s);
    });
    gw = await gatewayInFrontOf(workspace, 'halfway');

    const client = await upgradeThrough(gw, 'halfway');
    const upstream = await upstreamSide.promise;
    const ended = once(upstream, 'end');
    client.resume();
    client.end();
    await ended;
    // The other way still flows until the workspace is done.
    const last = once(client, 'data');
    upstream.write('bye');
    expect(((await last) as [Buffer])[0].toString()).toBe('bye');
    const closed = once(client, 'close');
    upstream.destroy();
    await closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(gw.app.sockets.size).toBe(0);
  });
});
