import { mkdtempSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ENGINE_SOCKET } from './engine.js';
import { pageLoad } from './gateway.js';
import { call, visit } from './http.js';

/**
 * A door in front of the engine's socket that the test can shut: the gateway
 * sees exactly what it would if the engine went away, without stopping the
 * engine every other test run depends on.
 */
export class EngineDoor {
  private server?: Server;
  /** Its folder: a container mounts the folder, not the socket, so the socket made again on reopening is the one it sees. */
  readonly folder = mkdtempSync(join(tmpdir(), 'wg-door-'));
  readonly path = join(this.folder, 'docker.sock');
  constructor(private readonly target: string = ENGINE_SOCKET) {}
  private readonly sockets = new Set<Socket>();

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target);
      this.sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((ok) => this.server!.listen(this.path, ok));
  }

  async shut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
    this.server = undefined;
  }
}

/** What a gateway answers while its engine is away: /readyz and a first page load for `user` are 503 engine_unavailable. */
export async function expectEngineUnavailable(gatewayUrl: string, user: string, jwt: string): Promise<void> {
  const ready = await call(`${gatewayUrl}/readyz`, { headers: { accept: 'application/json' } });
  expect(ready.status).toBe(503);
  expect((await ready.json()).error).toBe('engine_unavailable');
  const res = await visit(`${gatewayUrl}/ws/${user}/`, { headers: pageLoad(jwt, { accept: 'text/html,application/json' }) });
  expect(res.status).toBe(503);
  expect((await res.json()).error).toBe('engine_unavailable');
}
