import { isIP, type Socket } from 'node:net';
import { GatewayError } from '../errors.js';

export class TooManyConnectionsError extends GatewayError {
  constructor(max: number) {
    super(
      'too_many_connections',
      429,
      `Your address already has ${max} connections open to the gateway; close some tabs or wait a moment, then try again.`,
      { 'Retry-After': '5' },
    );
  }
}

/**
 * A cap on the connections one client address holds open at once (WebSockets
 * included: they stay the same connection). Counted when the connection is
 * accepted, released when it closes; one process counts its own (each
 * worker of a cluster has its own count).
 *
 * IPv6 addresses count by /64: one subscriber usually has a whole /64 and
 * could otherwise take a new address for every connection.
 */
export class ConnectionLimit {
  private readonly open = new Map<string, number>();

  /**
   * @param max 0: no cap.
   * @param uncapped peers not counted: edge proxies, through which every client comes (they limit per client themselves).
   */
  constructor(
    readonly max: number,
    private readonly uncapped: (address: string | undefined) => boolean = () => false,
  ) {}

  /** True when `socket` may be served; it is then counted until it closes. */
  admit(socket: Socket): boolean {
    if (this.max === 0) return true;
    const address = socket.remoteAddress;
    // No address: a Unix socket (a cluster leader's, whose peers are its workers) or one already gone.
    if (address === undefined || this.uncapped(address)) return true;
    const key = clientKey(address);
    const count = this.open.get(key) ?? 0;
    if (count >= this.max) return false;
    this.open.set(key, count + 1);
    socket.once('close', () => this.release(key));
    return true;
  }

  /** Open connections of the address `address` counts as. */
  countFor(address: string): number {
    return this.open.get(clientKey(address)) ?? 0;
  }

  private release(key: string): void {
    const count = (this.open.get(key) ?? 1) - 1;
    if (count <= 0) this.open.delete(key);
    else this.open.set(key, count);
  }
}

/** What one client is: an IPv4 address (also when it arrives as ::ffff:a.b.c.d), or an IPv6 /64. */
export function clientKey(address: string): string {
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  return isIP(plain) === 6 ? ipv6Prefix64(plain) : plain;
}

function ipv6Prefix64(address: string): string {
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  // A trailing dotted IPv4 part stands for two groups.
  const backGroups = back.length + (back.at(-1)?.includes('.') ? 1 : 0);
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - backGroups)).fill('0'), ...back];
  return groups.slice(0, 4).map((g) => (g.includes('.') ? g : parseInt(g, 16).toString(16))).join(':') + '::/64';
}
