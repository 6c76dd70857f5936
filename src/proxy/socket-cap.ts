import type { Duplex } from 'node:stream';

/**
 * At most `max` open sockets per key (a user, a client address), each
 * counted from when it is admitted until it closes. One process counts its
 * own (each worker of a cluster has its own count).
 */
export class SocketCap {
  private readonly open = new Map<string, number>();

  /** @param max 0: no cap. */
  constructor(readonly max: number) {}

  /** True when `key` may have one more; `socket` is then counted until it closes. */
  admit(key: string, socket: Duplex): boolean {
    // A socket already gone will not be served, and might never say 'close' again.
    if (this.max === 0 || socket.destroyed) return true;
    const count = this.open.get(key) ?? 0;
    if (count >= this.max) return false;
    this.open.set(key, count + 1);
    socket.once('close', () => this.release(key));
    return true;
  }

  private release(key: string): void {
    const count = (this.open.get(key) ?? 1) - 1;
    if (count <= 0) this.open.delete(key);
    else this.open.set(key, count);
  }
}
