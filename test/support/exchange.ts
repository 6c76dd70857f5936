/**
 * Clients for attacks: they never throw, and report whatever came back
 * (status, bytes, how it ended), bounded by a timeout after which they
 * hang up. `rawExchange` writes bytes as given (in pieces, some ms apart,
 * then ends, resets or just reads); `whateverAnswer` is Node's client for
 * requests that are well-formed but whose answers may not be.
 */
import { request, type Agent } from 'node:http';
import { connect } from 'node:net';

export interface RawOutcome {
  /** Everything received, latin1. */
  received: string;
  /** 'closed' by the gateway, 'reset', or 'timeout' (we hung up). */
  ending: 'closed' | 'reset' | 'timeout';
}

export interface RawExchangeOptions {
  gapMs?: number;
  /** After the last piece: half-close, reset at once, or keep reading (the default). */
  then?: 'end' | 'reset' | 'read';
  /** Never read: the socket is paused, so the gateway's writes back up. */
  unread?: boolean;
  timeoutMs: number;
  /** Hang up (half-close or reset) this long after the first bytes came back, as a client done with an answer. */
  hangUpAfterAnswer?: { how: 'end' | 'reset'; afterMs: number };
  /** Told the client's own port once connected (to look for it among the gateway's sockets later). */
  onPort?: (port: number) => void;
}

export function rawExchange(port: number, pieces: Buffer[], options: RawExchangeOptions): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => options.onPort?.(socket.localPort!));
    const chunks: Buffer[] = [];
    let ending: RawOutcome['ending'] = 'closed';
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks).toString('latin1'), ending });
    };
    const timer = setTimeout(() => {
      ending = 'timeout';
      socket.destroy();
    }, options.timeoutMs);
    socket.on('data', (c: Buffer) => {
      if (chunks.length === 0 && options.hangUpAfterAnswer) {
        const { how, afterMs } = options.hangUpAfterAnswer;
        setTimeout(() => {
          if (socket.destroyed) return;
          if (how === 'end') socket.end();
          else socket.resetAndDestroy();
        }, afterMs);
      }
      chunks.push(c);
    });
    if (options.unread) socket.pause();
    socket.on('error', () => (ending = ending === 'timeout' ? ending : 'reset'));
    socket.on('close', done);
    const write = (i: number) => {
      if (socket.destroyed) return;
      if (i < pieces.length) {
        socket.write(pieces[i]!);
        return void (options.gapMs ? setTimeout(write, options.gapMs, i + 1) : write(i + 1));
      }
      if (options.then === 'end') socket.end();
      else if (options.then === 'reset') socket.resetAndDestroy();
    };
    socket.once('connect', () => write(0));
  });
}

export interface WhateverAnswer {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** How the exchange failed, if it did (after or instead of a status). */
  error?: string;
}

export interface WhateverInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  agent?: Agent | false;
  timeoutMs: number;
  /** Hang up this long after sending, whatever came back by then. */
  hangUpAfterMs?: number;
  /** A slow reader: after the first body bytes, stop reading for this long. */
  pauseMs?: number;
  onPort?: (port: number) => void;
}

export function whateverAnswer(base: string, path: string, init: WhateverInit): Promise<WhateverAnswer> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const out: WhateverAnswer = { headers: {}, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      out.body = Buffer.concat(chunks);
      if (error) out.error = error;
      resolve(out);
    };
    const req = request(
      { hostname: url.hostname, port: url.port, path, method: init.method ?? 'GET', headers: init.headers, agent: init.agent ?? false },
      (res) => {
        out.status = res.statusCode;
        out.headers = res.headers;
        res.on('data', (c: Buffer) => {
          if (chunks.length === 0 && init.pauseMs) {
            res.pause();
            setTimeout(() => res.resume(), init.pauseMs);
          }
          chunks.push(c);
        });
        res.on('end', () => done(res.complete ? undefined : 'incomplete'));
        res.on('error', (err) => done(err.message));
        res.on('close', () => done(res.complete ? undefined : 'broke off'));
      },
    );
    req.on('socket', (socket) => {
      // A body still being written when the gateway closes ends in EPIPE on the socket, after the answer was taken.
      socket.on('error', () => {});
      if (socket.localPort) init.onPort?.(socket.localPort);
      else socket.once('connect', () => init.onPort?.(socket.localPort!));
    });
    const timer = setTimeout(() => req.destroy(new Error('timeout')), init.timeoutMs);
    if (init.hangUpAfterMs !== undefined) setTimeout(() => req.destroy(new Error('hung up')), init.hangUpAfterMs);
    req.on('error', (err) => done(err.message));
    req.end(init.body);
  });
}
