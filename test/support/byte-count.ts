/** A TCP relay that counts the bytes on the wire each way: what a student's connection carries. */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface CountingRelay {
  port: number;
  /** Bytes from the target to the clients, and from the clients to the target, since start or the last reset. */
  counts(): { down: number; up: number };
  reset(): void;
  close(): Promise<void>;
}

export async function countingRelay(target: { host: string; port: number }): Promise<CountingRelay> {
  let down = 0;
  let up = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s)).on('error', () => {});
    }
    client.on('data', (c: Buffer) => (up += c.length));
    upstream.on('data', (c: Buffer) => (down += c.length));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    counts: () => ({ down, up }),
    reset: () => {
      down = 0;
      up = 0;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
