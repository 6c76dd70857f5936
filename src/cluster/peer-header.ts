import type { IncomingMessage } from 'node:http';
import { setPeerAddress } from '../http/peer.js';

/**
 * The header by which a cluster worker tells the leader who its client is.
 * The leader reads it only on its private socket, which only the workers
 * can reach; a worker always sets it itself, over whatever a client sent.
 * Like every header in the gateway's own `x-workspace-gateway-` namespace it
 * is never forwarded to a workspace.
 */
export const PEER_HEADER = 'x-workspace-gateway-peer';

/** On the leader's private socket: takes the worker's word for the client's address. */
export function adoptPeerHeader(req: IncomingMessage): void {
  const told = req.headers[PEER_HEADER];
  delete req.headers[PEER_HEADER];
  if (typeof told === 'string') setPeerAddress(req, told);
}
