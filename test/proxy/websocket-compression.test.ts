import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { constants, deflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { gatewayInFrontOf, token, type FrontedGateway } from '../support/gateway.js';

/** Messages an open code-server tab sends (frame-scanner.test.ts has the recorded bytes): first byte the type, 13-byte header. */
const keepAlive = Buffer.from('09000000000000021400000000', 'hex');
const latencyPing = Buffer.from('010000021a000002120000001904040664069504010974656c656d65747279010470696e6700', 'hex');
const terminalKey = Buffer.from('01000003060000031b0000002604040664068006010e72656d6f74657465726d696e616c010624696e70757404020601010120', 'hex');

/**
 * A workspace that compresses like code-server (permessage-deflate with
 * context takeover, every message) and sends a large, repetitive page of text
 * on connect; it keeps what it received and echoes it.
 */
function compressingWorkspace() {
  const received: Buffer[] = [];
  const offers: (string | undefined)[] = [];
  const sentBytes: number[] = [];
  const page = Buffer.from(Array.from({ length: 4000 }, (_, i) => `{"line":${i},"text":"const value${i % 50} = compute(${i % 7});"}\n`).join(''));
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: { threshold: 0 } });
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    offers.push(req.headers['sec-websocket-extensions']);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const raw = socket as Socket;
      const start = raw.bytesWritten;
      ws.send(page, () => ws.send(page, () => sentBytes.push(raw.bytesWritten - start)));
      // The invalid data reaches the workspace too (the gateway relays before it reads): ws fails that socket.
      ws.on('error', () => {});
      ws.on('message', (data: Buffer) => {
        received.push(data);
        ws.send(data);
      });
    });
  });
  return { server, received, offers, sentBytes, page };
}

function open(gw: FrontedGateway, user: string, jwt: string): Promise<WebSocket> {
  const ws = new WebSocket(`${gw.wsUrl}/ws/${user}/`, { headers: { cookie: `workspace_token=${jwt}` }, perMessageDeflate: { threshold: 0 } });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function sendAndEcho(ws: WebSocket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    ws.once('message', (m: Buffer) => resolve(m));
    ws.send(data, { binary: true, compress: true });
  });
}

describe('compressed WebSockets through the gateway', () => {
  let gw: FrontedGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('negotiates permessage-deflate end to end, passes the compressed workspace → client frames through, and keeps the idle rule', async () => {
    const workspace = compressingWorkspace();
    gw = await gatewayInFrontOf(workspace.server, 'cleo');
    const jwt = await token('cleo');
    const pages: Buffer[] = [];
    const ws = new WebSocket(`${gw.wsUrl}/ws/cleo/`, { headers: { cookie: `workspace_token=${jwt}` }, perMessageDeflate: { threshold: 0 } });
    ws.on('message', (m: Buffer) => pages.push(m));
    let answer: IncomingMessage | undefined;
    ws.once('upgrade', (res) => (answer = res));
    await once(ws, 'open');
    expect(workspace.offers).toEqual(['permessage-deflate; client_max_window_bits']);
    expect(answer?.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_no_context_takeover');
    expect(ws.extensions).toBe('permessage-deflate');
    await vi.waitFor(() => expect(pages.length).toBe(2));
    ws.removeAllListeners('message');
    expect(pages.every((p) => p.equals(workspace.page))).toBe(true);
    // The client read what the workspace wrote, compressed (with context takeover, the second page costs next to nothing), and the 101 head.
    const clientRead = (ws as unknown as { _socket: Socket })._socket.bytesRead;
    expect(workspace.sentBytes[0]).toBeLessThan(workspace.page.length / 4);
    expect(clientRead - workspace.sentBytes[0]!).toBeLessThan(400); // the 101 head
    expect(clientRead).toBeGreaterThan(workspace.sentBytes[0]!);

    const before = gw.app.manager.get('cleo')!.lastActivity;
    await new Promise((r) => setTimeout(r, 20));
    for (const message of [keepAlive, latencyPing, keepAlive]) expect(await sendAndEcho(ws, message)).toEqual(message);
    expect(gw.app.manager.get('cleo')!.lastActivity, 'keep-alives and the latency ping are not activity').toBe(before);
    expect(await sendAndEcho(ws, terminalKey)).toEqual(terminalKey);
    expect(gw.app.manager.get('cleo')).toMatchObject({ lastActivityKind: 'websocket' });
    expect(gw.app.manager.get('cleo')!.lastActivity).toBeGreaterThan(before!);
    expect(workspace.received).toEqual([keepAlive, latencyPing, keepAlive, terminalKey]);
    ws.close();
  });

  it('closes the socket of a client whose compressed data does not inflate with 1007, and only that one', async () => {
    const workspace = compressingWorkspace();
    gw = await gatewayInFrontOf(workspace.server, ['dora', 'emil']);
    const emil = await open(gw, 'emil', await token('emil'));
    emil.on('message', () => {}); // the pages

    const jwt = await token('dora');
    const raw = connect(gw.port, '127.0.0.1');
    await once(raw, 'connect');
    raw.write(
      `GET /ws/dora/ HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nCookie: workspace_token=${jwt}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
    );
    let seen = Buffer.alloc(0);
    raw.on('data', (c: Buffer) => (seen = Buffer.concat([seen, c])));
    await vi.waitFor(() => expect(seen.indexOf('\r\n\r\n')).toBeGreaterThan(0));
    expect(seen.subarray(0, seen.indexOf('\r\n\r\n')).toString('latin1')).toContain(
      '\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover',
    );
    const good = deflateRawSync(keepAlive, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const frame = (payload: Buffer) => Buffer.concat([Buffer.from([0xc2, 0x80 | payload.length]), Buffer.alloc(4), payload]); // RSV1, binary, zero mask
    raw.write(Buffer.concat([frame(good), frame(Buffer.from([0xff, 0xff, 0xff, 0x07, 0x12]))]));
    await once(raw, 'close');
    const close = seen.indexOf(Buffer.from([0x88]), seen.indexOf('\r\n\r\n') + 4);
    expect(close).toBeGreaterThan(0);
    // The close frame: 0x88, length, code 1007.
    expect(seen.subarray(close).includes(Buffer.from([0x03, 0xef]))).toBe(true);

    expect(await sendAndEcho(emil, terminalKey)).toEqual(terminalKey);
    emil.close();
  });
});
