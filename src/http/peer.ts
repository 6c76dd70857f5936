import type { IncomingMessage } from 'node:http';

/**
 * The header by which a cluster worker tells the leader who its client is.
 * The leader reads it only on its private socket, which only the workers
 * can reach; a worker always sets it itself, over whatever a client sent.
 */
export const PEER_HEADER = 'x-workspace-gateway-peer';

const PEER = Symbol('peer address');
type Tagged = IncomingMessage & { [PEER]?: string };

/** The client's address: the socket's peer, or for a request a worker passed on, the worker's word. */
export function peerAddress(req: IncomingMessage): string | undefined {
  return (req as Tagged)[PEER] ?? req.socket.remoteAddress;
}

/** On the leader's private socket: takes the worker's word for the client's address. */
export function adoptPeerHeader(req: IncomingMessage): void {
  const told = req.headers[PEER_HEADER];
  delete req.headers[PEER_HEADER];
  if (typeof told === 'string') (req as Tagged)[PEER] = told;
}
