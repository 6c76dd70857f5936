import type { IncomingMessage } from 'node:http';

const PEER = Symbol('peer address');
type Tagged = IncomingMessage & { [PEER]?: string };

/** The client's address: the socket's peer, or for a request a cluster worker passed on, the worker's word. */
export function peerAddress(req: IncomingMessage): string | undefined {
  return (req as Tagged)[PEER] ?? req.socket.remoteAddress;
}

/** Takes `address` as the client's for this request (only ever on a cluster leader's private socket). */
export function setPeerAddress(req: IncomingMessage, address: string): void {
  (req as Tagged)[PEER] = address;
}
