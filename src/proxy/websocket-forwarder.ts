import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { UpstreamError, UpstreamTimeoutError, type GatewayError } from '../errors.js';
import type { Endpoint } from '../runtimes/runtime.js';
import { requestHead, type Outgoing } from './forward-headers.js';
import { destroySelf } from './socket-registry.js';
import { pinClientCompression, type ClientCompression } from './websocket-extensions.js';
import { connectTo, isRefusal, type UpstreamFailure } from './upstream.js';

export interface WebSocketForwarderOptions {
  /** How long the workspace may take to answer the upgrade. */
  timeoutMs: number;
  onFailure: (user: string, kind: UpstreamFailure) => void;
  /** Both ends, once the workspace said 101, and how the client's frames are compressed; may return what reads the client's bytes as they pass. */
  onOpen: (user: string, client: Duplex, upstream: Duplex, compression: ClientCompression) => ClientWatcher | undefined;
  /** Answers a failed upgrade before anything was sent to the client. */
  reject: (client: Duplex, error: GatewayError) => void;
}

/** Reads the client → workspace bytes of an open WebSocket after they were passed on (the frame scanner). */
export interface ClientWatcher {
  push(chunk: Buffer): void;
}

/** The workspace's answer head may not be larger than a request head. */
const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
const SWITCHING = /^HTTP\/1\.1 101 /;
const ANSWER = /^HTTP\/1\.[01] [1-5]\d\d[ \r]/;

/**
 * WebSocket upgrades by raw socket relaying: the request head as `outgoing`
 * says goes to the workspace, its answer head comes back byte for byte (but
 * for one compression parameter a 101 may gain: websocket-extensions.ts), and
 * after a 101 the two sockets are relayed with nothing in between. No HTTP
 * client objects outlive the handshake, which keeps idle sockets cheap.
 */
export class WebSocketForwarder {
  constructor(private readonly options: WebSocketForwarderOptions) {}

  forward(req: IncomingMessage, client: Duplex, head: Buffer, user: string, endpoint: Endpoint, outgoing: Outgoing): void {
    const upstream = connectTo(endpoint);
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
    const onError = (err: NodeJS.ErrnoException) => fail(isRefusal(err) ? 'refused' : 'reset');
    const onClose = () => fail('reset');
    const onAnswer = (chunk: Buffer) => {
      try {
        takeAnswer(chunk);
      } catch {
        // Whatever went wrong, it concerns this upgrade only.
        upstream.destroy();
        client.destroy();
      }
    };
    const takeAnswer = (chunk: Buffer) => {
      answer = answer.length === 0 ? chunk : Buffer.concat([answer, chunk]);
      if (answer.indexOf(HEAD_END) === -1) {
        if (answer.length > MAX_HEAD_BYTES) fail('invalid');
        return;
      }
      const statusLine = answer.toString('latin1', 0, 16);
      const switching = SWITCHING.test(statusLine);
      // A refusal is relayed as the workspace sent it, but only if it is an HTTP answer at all.
      if (!switching && !ANSWER.test(statusLine)) return fail('invalid');
      settled = true;
      clearTimeout(timer);
      // The handshake's closures (and the answer they hold) are let go: an idle WebSocket keeps none.
      upstream.off('data', onAnswer).off('error', onError).off('close', onClose);
      client.off('close', onClientGone);
      const pinned = switching ? pinClientCompression(answer) : { answer, compression: 'none' as const };
      client.write(pinned.answer);
      // Bytes the client sent after its upgrade head belong to the WebSocket: they go only once the
      // workspace switched. Sent earlier, a request pipelined behind a refused upgrade would reach
      // the workspace as the client wrote it, without the gateway's header rewriting.
      if (switching && head.length > 0) upstream.write(head);
      // Anything but 101: the answer is relayed, the client's bytes are not, and the connection ends with the workspace's.
      const watcher = switching ? this.options.onOpen(user, client, upstream, pinned.compression) : undefined;
      relay(client, upstream, switching, watcher);
    };
    const onClientGone = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      upstream.destroy();
    };

    upstream.on('data', onAnswer).on('error', onError).on('close', onClose);
    client.on('close', onClientGone);
    // Header values are latin1 strings of the bytes the client sent: written back byte for byte.
    upstream.write(requestHead(req.method ?? 'GET', outgoing), 'latin1');
  }
}

const PEER = Symbol('peer');
const WATCHER = Symbol('watcher');
type Relayed = Duplex & { [PEER]: Duplex; [WATCHER]?: ClientWatcher };

/**
 * Bytes flow with backpressure (the upstream always; the client only after a
 * 101). When either end goes, the other is ended, and destroyed a second
 * later if it has not gone by then. The handlers are shared functions that
 * find the other end on the socket, so an idle WebSocket costs two sockets
 * and no closures: with 10,000 open tabs, that is most of the gateway's heap.
 */
function relay(client: Duplex, upstream: Duplex, bothWays: boolean, watcher: ClientWatcher | undefined): void {
  (client as Relayed)[PEER] = upstream;
  (upstream as Relayed)[PEER] = client;
  // One listener per direction: a second 'data' listener would make every chunk's emit walk a list.
  if (watcher) (client as Relayed)[WATCHER] = watcher;
  upstream.on('data', sendToPeer);
  client.on('drain', resumePeer);
  if (bothWays) {
    client.on('data', sendToPeer);
    upstream.on('drain', resumePeer);
  }
  for (const socket of [client, upstream]) socket.on('end', endPeer).on('close', closePeer).on('error', destroySelf);
  upstream.resume();
  if (bothWays) client.resume();
}

function sendToPeer(this: Relayed, chunk: Buffer): void {
  if (!this[PEER].write(chunk)) this.pause();
  this[WATCHER]?.push(chunk);
}

function resumePeer(this: Relayed): void {
  this[PEER].resume();
}

/**
 * A half-close is passed on, for a while: a WebSocket ends in-band (close
 * frames), so an end that is not followed by the other side's within this
 * time is a peer that will never finish, and both sockets go.
 */
const HALF_CLOSE_GRACE_MS = 5000;

function endPeer(this: Relayed): void {
  if (!this[PEER].writableEnded) this[PEER].end();
  setTimeout(destroyBoth, HALF_CLOSE_GRACE_MS, this).unref();
}

function destroyBoth(socket: Relayed): void {
  socket.destroy();
  socket[PEER].destroy();
}

function closePeer(this: Relayed): void {
  const peer = this[PEER];
  if (peer.destroyed) return;
  peer.end();
  setTimeout(destroyLater, 1000, peer).unref();
}

function destroyLater(socket: Duplex): void {
  socket.destroy();
}
