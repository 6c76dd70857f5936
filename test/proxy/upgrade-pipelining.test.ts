import { connect, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { gatewayInFrontOf, token, type TestGateway } from '../support/gateway.js';
import { call } from '../support/http.js';
import { rawUpgradeServer } from '../support/stand-in-workspace.js';

/** A workspace that refuses every upgrade with a keep-alive answer and records every byte it gets. */
function refusingWorkspace(): { server: Server; received: () => string } {
  let bytes = '';
  const server = rawUpgradeServer((socket, head) => {
    bytes += head;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.toString('latin1')));
    socket.resume();
    socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno');
  });
  return { server, received: () => bytes };
}

describe('a request pipelined behind an upgrade', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('never reaches a workspace that refused the upgrade, so no header skips the rewriting', async () => {
    const workspace = refusingWorkspace();
    gw = await gatewayInFrontOf(workspace.server, 'alice');
    const jwt = await token('alice');
    const port = gw.port;
    const upgrade = `GET /ws/alice/socket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: workspace_token=${jwt}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    const smuggled = `GET /smuggled HTTP/1.1\r\nHost: x\r\nCookie: workspace_token=${jwt}\r\nAuthorization: Bearer ${jwt}\r\nX-Remote-User: admin\r\nX-Forwarded-For: 6.6.6.6\r\nX-Workspace-Gateway-Peer: 6.6.6.6\r\n\r\n`;
    const answer = await new Promise<string>((done) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (c) => (text += c.toString('latin1')));
      socket.on('close', () => done(text));
      socket.on('error', () => done(text));
      // One write: the gateway reads the pipelined request as bytes after the upgrade head.
      socket.write(upgrade + smuggled);
      setTimeout(() => socket.destroy(), 1500);
    });
    // The refusal is relayed as the workspace sent it ...
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    // ... and the workspace saw exactly one request: the gateway's rewritten upgrade head.
    const seen = workspace.received();
    expect(seen.match(/HTTP\/1\.1\r\n/g)).toHaveLength(1);
    expect(seen).toContain('GET /socket HTTP/1.1');
    expect(seen).not.toContain('/smuggled');
    expect(seen).not.toContain(jwt);
    expect(seen.toLowerCase()).not.toContain('x-remote-user');
    expect(seen).not.toContain('6.6.6.6');
    expect((await call(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('writes the upgrade head byte for byte (latin1), as it came', async () => {
    const workspace = refusingWorkspace();
    gw = await gatewayInFrontOf(workspace.server, 'alice');
    const jwt = await token('alice');
    const port = gw.port;
    await new Promise<void>((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('close', () => done());
      socket.on('error', () => done());
      socket.write(
        `GET /ws/alice/socket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: workspace_token=${jwt}\r\nX-Name: caf\xe9\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
        'latin1',
      );
      setTimeout(() => socket.destroy(), 1000);
    });
    // 0xE9 arrives as the one byte the client sent, not as UTF-8's two.
    expect(workspace.received()).toContain('x-name: caf\xe9\r\n');
  });
});
