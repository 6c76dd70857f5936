import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { UpstreamError, UpstreamTimeoutError, type GatewayError } from '../errors.js';
import type { Endpoint } from '../runtimes/runtime.js';
import type { UpstreamFailure } from './http-forwarder.js';

export interface WebSocketForwarderOptions {
  /** How long the workspace may take to answer the upgrade. */
  timeoutMs: number;
  onFailure: (user: string, kind: UpstreamFailure) => void;
  /** Both ends, once the workspace said 101. */
  onOpen: (user: string, client: Duplex, upstream: Duplex) => void;
  /** Answers a failed upgrade before anything was sent to the client. */
  reject: (client: Duplex, error: GatewayError) => void;
}

/** The workspace's answer head may not be larger than a request head. */
const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * WebSocket upgrades by raw socket piping: the (already rewritten) request
 * head goes to the workspace, its answer head comes back byte for byte, and
 * after a 101 the two sockets are piped with nothing in between. No HTTP
 * client objects outlive the handshake, which keeps idle sockets cheap.
 */
export class WebSocketForwarder {
  constructor(private readonly options: WebSocketForwarderOptions) {}

  forward(req: IncomingMessage, client: Duplex, head: Buffer, user: string, endpoint: Endpoint): void {
    const upstream = 'socketPath' in endpoint ? connect(endpoint.socketPath) : connect(endpoint.port, endpoint.host);
    upstream.setNoDelay(true);
    (client as Socket).setNoDelay?.(true);
    let answer: Buffer = Buffer.alloc(0);
    let settled = false;

    const fail = (kind: UpstreamFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      upstream.destroy();
      this.options.onFailure(user, kind);
      this.options.reject(client, kind === 'timeout' ? new UpstreamTimeoutError() : new UpstreamError());
    };
    const timer = setTimeout(() => fail('timeout'), this.options.timeoutMs);
    const onError = (err: NodeJS.ErrnoException) => fail(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' || err.code === 'EHOSTUNREACH' ? 'refused' : 'reset');
    const onClose = () => fail('reset');
    const onAnswer = (chunk: Buffer) => {
      answer = answer.length === 0 ? chunk : Buffer.concat([answer, chunk]);
      if (answer.indexOf(HEAD_END) === -1) {
        if (answer.length > MAX_HEAD_BYTES) fail('reset');
        return;
      }
      settled = true;
      clearTimeout(timer);
      upstream.off('data', onAnswer).off('error', onError).off('close', onClose);
      const switching = answer.toString('latin1', 9, 12) === '101';
      client.write(answer);
      link(client, upstream);
      upstream.pipe(client);
      if (switching) {
        client.pipe(upstream);
        this.options.onOpen(user, client, upstream);
      }
      // Anything but 101: the answer is relayed and the connection ends with the workspace's.
    };

    upstream.on('data', onAnswer).on('error', onError).on('close', onClose);
    client.once('close', () => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        upstream.destroy();
      }
    });
    upstream.write(requestHead(req));
    if (head.length > 0) upstream.write(head);
  }
}

/** The request line and headers as the workspace should see them (headers already rewritten). */
function requestHead(req: IncomingMessage): string {
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
  const headers = req.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) text += `${name}: ${v}\r\n`;
    else text += `${name}: ${value}\r\n`;
  }
  return text + '\r\n';
}

/** When either end goes, the other goes too (after a moment to flush what it was sent). */
function link(client: Duplex, upstream: Duplex): void {
  const finish = (other: Duplex) => () => {
    if (other.destroyed) return;
    other.end();
    setTimeout(() => other.destroy(), 1000).unref();
  };
  client.once('close', finish(upstream));
  upstream.once('close', finish(client));
  client.on('error', () => client.destroy());
  upstream.on('error', () => upstream.destroy());
}
