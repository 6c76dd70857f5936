import type { Duplex } from 'node:stream';
import type { Session } from '../auth/sessions.js';

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

export function closeSocket(socket: Duplex, code: number, reason: string): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded) socket.end(closeFrame(code, reason));
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Open proxied WebSockets per user, so a stopped workspace's tabs are told and closed, and per session, so a logout closes its own. */
export class SocketRegistry {
  private readonly byUser = new Map<string, Set<Duplex>>();
  private readonly bySession = new Map<string, { session: Session; sockets: Set<Duplex> }>();
  private total = 0;

  get size(): number {
    return this.total;
  }

  add(user: string, socket: Duplex, session?: Session): void {
    let set = this.byUser.get(user);
    if (!set) this.byUser.set(user, (set = new Set()));
    set.add(socket);
    this.total++;
    let entry = session && this.bySession.get(session.id);
    if (session && !entry) this.bySession.set(session.id, (entry = { session, sockets: new Set() }));
    entry?.sockets.add(socket);
    socket.on('close', () => {
      if (set.delete(socket)) this.total--;
      if (set.size === 0 && this.byUser.get(user) === set) this.byUser.delete(user);
      if (entry && entry.sockets.delete(socket) && entry.sockets.size === 0 && this.bySession.get(entry.session.id) === entry) {
        this.bySession.delete(entry.session.id);
      }
    });
  }

  /** The sessions that have WebSockets open, with their sockets. */
  sessions(): IterableIterator<{ session: Session; sockets: Set<Duplex> }> {
    return this.bySession.values();
  }

  closeSession(id: string, code: number, reason: string): void {
    for (const socket of this.bySession.get(id)?.sockets ?? []) closeSocket(socket, code, reason);
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
