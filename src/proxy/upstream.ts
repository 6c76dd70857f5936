import { connect, type Socket } from 'node:net';
import type { Endpoint } from '../runtimes/runtime.js';

/**
 * How talking to a workspace failed: `refused` means no connection could be
 * made (its endpoint is probably stale), `timeout` that no answer came in
 * time, `invalid` an answer that is not HTTP the gateway may pass on, `reset`
 * anything else after the connection was made.
 */
export type UpstreamFailure = 'refused' | 'reset' | 'timeout' | 'invalid';

const REFUSED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ENOENT', 'EAI_AGAIN']);

/** A connection error that means the workspace is not there (as opposed to one that broke). */
export function isRefusal(error: NodeJS.ErrnoException): boolean {
  return REFUSED.has(error.code ?? '');
}

/** A TCP or Unix-socket connection to a workspace, without Nagle's delay. */
export function connectTo(endpoint: Endpoint): Socket {
  const socket = 'socketPath' in endpoint ? connect(endpoint.socketPath) : connect(endpoint.port, endpoint.host);
  socket.setNoDelay(true);
  return socket;
}

/** One string per distinct endpoint. */
export function endpointKey(endpoint: Endpoint): string {
  return 'socketPath' in endpoint ? endpoint.socketPath : `${endpoint.host}:${endpoint.port}`;
}
