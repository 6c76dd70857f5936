import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Endpoint } from '../runtimes/runtime.js';
import { requestHead, type Outgoing } from './forward-headers.js';
import { connectTo, isRefusal, type UpstreamFailure } from './upstream.js';

/**
 * Node's own llhttp binding, the parser behind `node:http` (undici parses
 * with a WebAssembly build and copies every byte into it). A 10-line proxy
 * measured here: 68–71 µs of CPU per 1 KiB request with this parser against
 * 100–107 µs with undici's pool. `_http_common` is the module `node:http`
 * itself uses; the Node version is pinned (20), and every forwarding test
 * goes through this file.
 */
interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error;
  close(): void;
  [callback: number]: unknown;
  [CONNECTION]?: UpstreamConnection;
}
interface NativeParserClass {
  new (): NativeParser;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: NativeParserClass };

const CONNECTION = Symbol('connection');
/** A workspace that does not even accept the connection in this time is taken as gone. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Largest answer head taken from a workspace (Node's default for its own clients). */
const MAX_HEAD_BYTES = 16 * 1024;
/** 1xx answers before the real one; a workspace sending more is out of its mind (or hostile). */
const MAX_INFORMATIONAL = 16;

/** What the connection reports about the exchange it carries. */
export interface ResponseSink {
  /** The answer's status and raw header pairs as received (latin1 strings of its bytes); false when they cannot be passed on. */
  head(statusCode: number, rawHeaders: string[]): boolean;
  /** Returns false when the client's buffer is full: the connection pauses until `resume`. */
  data(chunk: Buffer): boolean;
  end(): void;
  /**
   * `refused` (no connection), `timeout` (no head in time), `invalid` (an
   * answer that cannot be passed on: a status outside 100–599, a 101 to a
   * plain request, headers Node will not write), else `reset`.
   * `stale`: a reused keep-alive connection broke before any answer byte came, which
   * is how a workspace closing an idle connection looks; the request may be sent again.
   */
  fail(kind: UpstreamFailure, stale: boolean): void;
}

/**
 * One keep-alive HTTP/1.1 connection to a workspace: it sends one request
 * at a time and parses the answer with Node's native parser, streaming the
 * body to the sink with backpressure. It is reusable after a complete
 * exchange the workspace agreed to keep alive; anything else destroys it.
 */
export class UpstreamConnection {
  readonly socket: Socket;
  private readonly parser: NativeParser;
  private sink?: ResponseSink;
  private headPairs: string[] = [];
  private answered = false;
  private informational = false;
  private informationalCount = 0;
  /** The answer is complete and the connection may carry the next exchange, once the bytes read so far are known to hold nothing more. */
  private reusable = false;
  private skipBody = false;
  private keepAlive = false;
  private requestSent = false;
  /** Bytes came for the current exchange: a break after that is no stale keep-alive. */
  private received = false;
  private connected = false;
  private headersTimeoutMs = 0;
  /**
   * Body bytes still to come of an answer with a Content-Length, which the
   * connection passes on itself as views of what it reads; -1 while the
   * parser reads the body (chunked or until close). The parser copies every
   * body piece into a new buffer and calls back into JavaScript for it: for a
   * 1 MiB download that doubled the gateway's CPU.
   */
  private bodyLeft = -1;
  /** When the answer head must have come (epoch ms; 0 when none is awaited). Checked by the pool's sweep. */
  deadline = 0;
  /** Since when the connection waits for its next exchange (epoch ms). */
  idleSince = 0;
  /** Exchanges carried so far: a stale keep-alive connection shows as a reset on a reused one. */
  uses = 0;

  constructor(
    endpoint: Endpoint,
    private readonly onIdle: (connection: UpstreamConnection) => void,
    private readonly onGone: (connection: UpstreamConnection) => void,
  ) {
    this.socket = connectTo(endpoint);
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEAD_BYTES, 0);
    this.parser[CONNECTION] = this;
    this.parser[HTTPParser.kOnMessageBegin] = onMessageBegin;
    this.parser[HTTPParser.kOnHeaders] = onHeaders;
    this.parser[HTTPParser.kOnHeadersComplete] = onHeadersComplete;
    this.parser[HTTPParser.kOnBody] = onBody;
    this.parser[HTTPParser.kOnMessageComplete] = onMessageComplete;
    (this.socket as SocketOf).connection = this;
    this.socket.on('connect', onConnect).on('data', onData).on('end', onEnd).on('close', onClose).on('error', onError);
  }

  /**
   * Sends the request and streams its body (if any) with backpressure; the
   * answer goes to `sink`. `headersTimeoutMs` bounds the wait for the head.
   */
  send(req: IncomingMessage, outgoing: Outgoing, sink: ResponseSink, hasBody: boolean, headersTimeoutMs: number): void {
    this.sink = sink;
    this.uses++;
    this.answered = false;
    this.informational = false;
    this.informationalCount = 0;
    this.received = false;
    this.skipBody = req.method === 'HEAD';
    this.requestSent = !hasBody;
    this.headersTimeoutMs = headersTimeoutMs;
    this.deadline = Date.now() + (this.connected ? headersTimeoutMs : Math.min(headersTimeoutMs, CONNECT_TIMEOUT_MS));
    const chunked = hasBody && req.headers['content-length'] === undefined;
    const head = requestHead(req.method ?? 'GET', outgoing, chunked ? 'transfer-encoding: chunked\r\n' : '');
    if (hasBody) this.streamBody(req, head, chunked);
    else this.writeHead(head);
  }

  /**
   * An answer starts. Without an exchange waiting for it, the workspace sent
   * bytes nobody asked for (after a complete answer, or while the connection
   * was idle): they would become the next request's answer, so the
   * connection goes.
   */
  messageBegin(): void {
    if (!this.sink) this.socket.destroy();
  }

  /** Header values are latin1 strings of the bytes the client sent: written back byte for byte. */
  private writeHead(head: string): void {
    this.socket.write(head, 'latin1');
  }

  /** After the sink said its client's buffer was full. */
  resume(): void {
    this.socket.resume();
  }

  /** The client went away: the exchange is dropped with the connection. */
  abandon(): void {
    this.sink = undefined;
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * The head goes out with the first body byte (or the end of an empty body):
   * Node's parser checks a request's framing (Content-Length, Transfer-Encoding)
   * only after it has handed the request over, and a request it then refuses
   * must not have reached the workspace.
   */
  private streamBody(req: IncomingMessage, head: string, chunked: boolean): void {
    const socket = this.socket;
    let headSent = false;
    const sendHead = () => {
      if (headSent) return;
      headSent = true;
      this.writeHead(head);
    };
    const onData = (chunk: Buffer) => {
      sendHead();
      const more = chunked ? socket.write(`${chunk.length.toString(16)}\r\n`) && socket.write(chunk) && socket.write('\r\n') : socket.write(chunk);
      if (!more) req.pause();
    };
    const onDrain = () => req.resume();
    const done = () => {
      req.off('data', onData).off('end', onEnd);
      socket.off('drain', onDrain).off('close', done);
    };
    const onEnd = () => {
      done();
      sendHead();
      if (chunked) socket.write('0\r\n\r\n');
      this.requestSent = true;
    };
    req.on('data', onData).on('end', onEnd);
    socket.on('drain', onDrain);
    socket.on('close', done);
  }

  headers(pairs: string[]): void {
    for (const p of pairs) this.headPairs.push(p);
  }

  headersComplete(statusCode: number, pairs: string[] | undefined, shouldKeepAlive: boolean): number {
    const all = pairs ?? this.headPairs;
    this.headPairs = [];
    const sink = this.sink;
    // Returning -1 makes the parser stop with an error: nothing more is read from this connection.
    if (!sink) return -1;
    // 1xx (100 Continue, 103 Early Hints) carry nothing for the client; the real answer follows.
    // 101 switches protocols, which a plain request never asked for.
    if (statusCode >= 100 && statusCode < 200 && statusCode !== 101) {
      if (++this.informationalCount > MAX_INFORMATIONAL) return this.refuse('invalid');
      this.informational = true;
      return 1;
    }
    if (statusCode < 200 || statusCode > 599) return this.refuse('invalid');
    this.answered = true;
    this.keepAlive = shouldKeepAlive;
    // Bodies may pause for as long as the client likes.
    this.deadline = 0;
    if (!sink.head(statusCode, all)) return this.refuse('invalid');
    if (this.skipBody) return 1;
    const length = statusCode === 204 || statusCode === 304 ? -1 : contentLength(all);
    if (length < 0) return 0;
    // 2 stops the parser right after the head (as for an upgrade); `execute` takes over the body.
    this.bodyLeft = length;
    return 2;
  }

  /** The answer cannot be passed on: the exchange fails, the connection goes, the parser stops. */
  private refuse(kind: UpstreamFailure): number {
    this.answered = false;
    this.failed(kind);
    return -1;
  }

  body(chunk: Buffer): void {
    if (this.sink && !this.sink.data(chunk)) this.socket.pause();
  }

  messageComplete(): void {
    // Stopped after the head, the parser reports the answer complete: its body is still to come.
    if (this.bodyLeft >= 0) return;
    if (this.informational) {
      this.informational = false;
      return;
    }
    const sink = this.sink;
    // An answer nobody asked for: the connection is out of step, and no use to anyone.
    if (!sink) return void this.socket.destroy();
    this.sink = undefined;
    // Pooled only once `execute` has seen that nothing follows the answer in what was read.
    this.reusable = this.keepAlive && this.requestSent;
    sink.end();
  }

  /**
   * Every callback of the parser runs inside this call; whatever goes wrong
   * in one (a client that went away, an answer Node refuses to write) fails
   * this exchange and this connection only.
   */
  execute(data: Buffer): void {
    if (!this.sink) {
      // Bytes while idle: nobody asked for them.
      this.socket.destroy();
      return;
    }
    this.received = true;
    try {
      this.parse(data);
    } catch {
      this.failed('invalid');
      this.socket.destroy();
      return;
    }
    if (!this.reusable) return;
    this.reusable = false;
    if (this.socket.destroyed) return;
    // The last chunk may have found the client's buffer full: the next exchange starts reading.
    this.socket.resume();
    this.onIdle(this);
  }

  private parse(data: Buffer): void {
    let offset = 0;
    while (offset < data.length && !this.socket.destroyed) {
      if (this.bodyLeft >= 0) {
        const n = Math.min(this.bodyLeft, data.length - offset);
        this.bodyLeft -= n;
        if (n > 0) this.body(offset === 0 && n === data.length ? data : data.subarray(offset, offset + n));
        offset += n;
        if (this.bodyLeft === 0) this.bodyDone();
        continue;
      }
      // Bytes after a complete answer, before anyone asked again: out of step.
      if (this.reusable) return void this.socket.destroy();
      const result = this.parser.execute(offset === 0 ? data : data.subarray(offset));
      if (result instanceof Error) {
        this.failed('invalid');
        return void this.socket.destroy();
      }
      // The parser stopped after a head whose body is ours to pass on, or read everything.
      if (this.bodyLeft < 0) return;
      offset += result;
    }
    // A body of length 0 ends with its head.
    if (this.bodyLeft === 0) this.bodyDone();
  }

  private bodyDone(): void {
    this.bodyLeft = -1;
    // The parser stopped as for an upgrade: it starts afresh for the next answer.
    this.parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEAD_BYTES, 0);
    this.messageComplete();
  }

  ended(): void {
    try {
      // A body that runs until the connection closes ends here; one with a length must be complete.
      const result = this.bodyLeft > 0 ? new Error('answer cut short') : this.parser.finish();
      if (result instanceof Error) this.failed('reset');
    } catch {
      this.failed('invalid');
    }
    this.socket.destroy();
  }

  closed(): void {
    this.parser.close();
    this.failed(this.connected ? 'reset' : 'refused');
    this.onGone(this);
  }

  failed(kind: UpstreamFailure): void {
    const sink = this.sink;
    if (!sink) return;
    this.sink = undefined;
    this.deadline = 0;
    this.socket.destroy();
    // Past the head, the answer is broken off however it failed.
    sink.fail(this.answered ? 'reset' : kind, kind === 'reset' && !this.received && this.uses > 1 && this.requestSent);
  }

  markConnected(): void {
    this.connected = true;
    if (this.deadline !== 0) this.deadline = Date.now() + this.headersTimeoutMs;
  }

  /** The head did not come in time (or the connection did not open): see the pool's sweep. */
  timedOut(): void {
    this.deadline = 0;
    this.failed(this.connected ? 'timeout' : 'refused');
  }

  errored(error: NodeJS.ErrnoException): void {
    this.failed(!this.connected && isRefusal(error) ? 'refused' : 'reset');
  }
}

type SocketOf = Socket & { connection: UpstreamConnection };

/** The Content-Length of an answer without Transfer-Encoding, or -1. */
function contentLength(pairs: string[]): number {
  let length = -1;
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') length = /^\d{1,15}$/.test(pairs[i + 1]!) ? Number(pairs[i + 1]) : -1;
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return -1;
  }
  return length;
}

// Shared handlers: the connection is found on the parser or the socket, no closures per connection.
function onMessageBegin(this: NativeParser): void {
  this[CONNECTION]!.messageBegin();
}
function onHeaders(this: NativeParser, pairs: string[]): void {
  this[CONNECTION]!.headers(pairs);
}
function onHeadersComplete(
  this: NativeParser,
  _major: number,
  _minor: number,
  pairs: string[] | undefined,
  _method: unknown,
  _url: unknown,
  statusCode: number,
  _message: unknown,
  _upgrade: boolean,
  shouldKeepAlive: boolean,
): number {
  return this[CONNECTION]!.headersComplete(statusCode, pairs, shouldKeepAlive);
}
function onBody(this: NativeParser, chunk: Buffer): void {
  this[CONNECTION]!.body(chunk);
}
function onMessageComplete(this: NativeParser): void {
  this[CONNECTION]!.messageComplete();
}
function onConnect(this: SocketOf): void {
  this.connection.markConnected();
}
function onData(this: SocketOf, data: Buffer): void {
  this.connection.execute(data);
}
function onEnd(this: SocketOf): void {
  this.connection.ended();
}
function onClose(this: SocketOf): void {
  this.connection.closed();
}
function onError(this: SocketOf, error: Error): void {
  this.connection.errored(error);
}
