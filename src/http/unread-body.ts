import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { endThenDestroy } from './close-gracefully.js';

/**
 * A request body the gateway will not read. Node, once an answer is done,
 * reads (dumps) the rest of the body to keep the connection for the next
 * request: for a body of 100 MB sent a byte at a time that holds the
 * connection as long as the sender likes, and nobody has even shown a
 * token. So an answer given before its request's body has arrived (a 401, a
 * 413, a refused call, an early answer of a workspace) ends the connection.
 */

/**
 * Once `res` is done, a body still arriving is not waited for: the
 * connection is ended and destroyed after a grace (see endThenDestroy).
 * The gateway's own answers also say `Connection: close` (respond.ts); this
 * covers every other answer too.
 */
export function closeWhenAnsweredEarly(req: IncomingMessage, res: ServerResponse): void {
  // Before Node's own 'finish' listener, which would dump the body or, for `Connection: close`, destroy the socket at once.
  res.prependOnceListener('finish', () => {
    if (req.complete) return;
    const socket = req.socket as Socket;
    // Node ends a `Connection: close` answer with destroySoon(): a destroy as soon as the answer is flushed,
    // the RST case above. The grace below destroys it instead.
    socket.destroySoon = endOnly;
    endThenDestroy(socket);
  });
}

function endOnly(this: Socket): void {
  if (!this.writableEnded) this.end();
}
