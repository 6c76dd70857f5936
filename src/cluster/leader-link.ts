import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { peerAddress } from '../http/peer.js';
import { rejectUpgrade, sendError } from '../http/respond.js';
import { HOP_BY_HOP, pushHeader, type Outgoing } from '../proxy/forward-headers.js';
import { HttpForwarder } from '../proxy/http-forwarder.js';
import type { UpstreamFailure } from '../proxy/upstream.js';
import { WebSocketForwarder } from '../proxy/websocket-forwarder.js';
import type { Endpoint } from '../runtimes/runtime.js';
import { PEER_HEADER } from './peer-header.js';

/**
 * The worker's way to the leader's private socket: requests and upgrades go
 * as they came, with the client's address added (any such header the client
 * sent is overwritten).
 */
export class LeaderLink {
  private readonly endpoint: Endpoint;
  private readonly http: HttpForwarder;
  private readonly ws: WebSocketForwarder;

  /** `timeoutMs` covers a spawn: the leader may hold a request until the workspace is up. */
  constructor(socketPath: string, timeoutMs: number, onFailure: (kind: UpstreamFailure) => void) {
    this.endpoint = { socketPath };
    // The leader's answers are the gateway's own: its session cookies pass.
    this.http = new HttpForwarder({ timeoutMs, onFailure: (_, kind) => onFailure(kind), sendError, gatewayCookies: new Set() });
    this.ws = new WebSocketForwarder({ timeoutMs, onFailure: (_, kind) => onFailure(kind), onOpen: () => undefined, reject: rejectUpgrade });
  }

  web(req: IncomingMessage, res: ServerResponse): void {
    this.http.forward(req, res, '', this.endpoint, toLeader(req, false));
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.ws.forward(req, socket, head, '', this.endpoint, toLeader(req, true));
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

/** The request as a worker passes it to its leader: unchanged but for the hops, and with the client's address. */
function toLeader(req: IncomingMessage, upgrade: boolean): Outgoing {
  const headers = req.headers;
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name === PEER_HEADER || (!upgrade && (HOP_BY_HOP.has(name) || name === 'expect'))) continue;
    pushHeader(out, name, value);
  }
  out.push(PEER_HEADER, peerAddress(req) ?? '');
  return { path: req.url ?? '/', headers: out };
}
