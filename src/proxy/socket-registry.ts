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
    socket.once('close', () => {
      if (set.delete(socket)) this.total--;
      if (set.size === 0 && this.byUser.get(user) === set) this.byUser.delete(user);
    });
  }

  countFor(user: string): number {
    return this.byUser.get(user)?.size ?? 0;
  }

  /** Sends a close frame (1001 going away, or what `code` says) and ends each socket. */
  closeUser(user: string, code: number, reason: string): void {
    for (const socket of this.byUser.get(user) ?? []) {
      socket.end(closeFrame(code, reason));
      setTimeout(() => socket.destroy(), 1000).unref();
    }
  }
}
