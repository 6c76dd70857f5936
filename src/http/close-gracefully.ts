import type { Duplex } from 'node:stream';

/** Long enough for a short answer to reach a client on a slow link; short enough to hold nothing. */
export const CLOSE_GRACE_MS = 1000;

/**
 * Ends a socket after what was written to it, and destroys it a moment later.
 *
 * Destroying at once is not the same: a socket closed with unread bytes in
 * its receive buffer (a body the client is still sending) makes the kernel
 * send RST instead of FIN and drop what is still queued to go out, so the
 * client may never see the answer. In between, what the client sends is read
 * and dropped, which keeps that buffer empty; the grace bounds how long.
 */
export function endThenDestroy(socket: Duplex, graceMs = CLOSE_GRACE_MS): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded) socket.end();
  socket.resume();
  const timer = setTimeout(destroyIt, graceMs, socket);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function destroyIt(socket: Duplex): void {
  socket.destroy();
}
