import { connect } from 'node:net';

/**
 * Sends raw bytes and resolves with the status code of the first response
 * line (0 when the connection closed without one) and everything received.
 * For requests no well-behaved client library would send.
 */
export function rawRequest(
  port: number,
  bytes: string | Buffer,
  options: { waitMs?: number; dribbleMs?: number } = {},
): Promise<{ status: number; text: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    const done = () => resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), text, closedAfterMs: Date.now() - started });
    socket.on('close', done);
    socket.on('error', () => {});
    if (options.dribbleMs) {
      // A slow client: one byte at a time.
      const data = Buffer.from(bytes);
      let i = 0;
      const timer = setInterval(() => {
        if (i >= data.length || socket.destroyed) return clearInterval(timer);
        socket.write(data.subarray(i, ++i));
      }, options.dribbleMs);
      socket.on('close', () => clearInterval(timer));
    } else {
      socket.write(bytes);
    }
    setTimeout(() => socket.destroy(), options.waitMs ?? 2000).unref();
  });
}
