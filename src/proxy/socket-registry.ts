import type { Duplex } from 'node:stream';

/** Close frame (server → client, unmasked): 2-byte code + a short UTF-8 reason. */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, 120));
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88;
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}

/** An 'error' listener that needs no closure: the socket is simply destroyed. */
export function destroySelf(this: Duplex): void {
  this.destroy();
}

/** setTimeout's limit (about 24.8 days); later deadlines are simply not scheduled. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Sends a close frame and ends the socket at epoch-ms `at` (unless it closed before). */
export function closeSocketAt(socket: Duplex, at: number, code: number, reason: string): void {
  const ms = at - Date.now();
  if (ms > MAX_TIMER_MS) return;
  const timer = setTimeout(closeSocket, Math.max(0, ms), socket, code, reason);
  timer.unref();
  socket.on('close', () => clearTimeout(timer));
}

function closeSocket(socket: Duplex, code: number, reason: string): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded) socket.end(closeFrame(code, reason));
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Open proxied WebSockets per user, so a stopped workspace's tabs are told and closed. */
export class SocketRegistry {
  private readonly byUser = new Map<string, Set<Duplex>>();
  private total = 0;

  get size(): number {
    return this.total;
  }

  add(user: string, socket: Duplex): void {
    let set = this.byUser.get(user);
    if (!set) this.byUser.set(user, (set = new Set()));
    set.add(socket);
    this.total++;
    socket.on('close', () => {
      if (set.delete(socket)) this.total--;
      if (set.size === 0 && this.byUser.get(user) === set) this.byUser.delete(user);
    });
  }

  /** Destroys every open socket at once (shutdown: upgraded sockets are not the HTTP server's to close). */
  destroyAll(): void {
    for (const socket of this.all()) socket.destroy();
  }

  /** The client ends of all open WebSockets. */
  *all(): IterableIterator<Duplex> {
    for (const set of this.byUser.values()) yield* set;
  }

  /** Sends a close frame (1001 going away, or what `code` says) and ends each socket. */
  closeUser(user: string, code: number, reason: string): void {
    for (const socket of this.byUser.get(user) ?? []) closeSocket(socket, code, reason);
  }
}
