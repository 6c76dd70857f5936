import { isIP, type Socket } from 'node:net';
import { SocketCap } from '../proxy/socket-cap.js';

/**
 * A cap on the connections one client address holds open at once (WebSockets
 * included: they stay the same connection). Counted when the connection is
 * accepted, released when it closes.
 *
 * IPv6 addresses count by /64: one subscriber usually has a whole /64 and
 * could otherwise take a new address for every connection.
 */
export class ConnectionLimit {
  private readonly cap: SocketCap;

  /**
   * @param max 0: no cap.
   * @param uncapped peers not counted: edge proxies, through which every client comes (they limit per client themselves).
   */
  constructor(
    readonly max: number,
    private readonly uncapped: (address: string | undefined) => boolean = () => false,
  ) {
    this.cap = new SocketCap(max);
  }

  /** True when `socket` may be served; it is then counted until it closes. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress;
    // No address: a Unix socket (a cluster leader's, whose peers are its workers) or one already gone.
    if (this.max === 0 || address === undefined || this.uncapped(address)) return true;
    return this.cap.admit(clientKey(address), socket);
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
  return (
    groups
      .slice(0, 4)
      .map((g) => (g.includes('.') ? g : parseInt(g, 16).toString(16)))
      .join(':') + '::/64'
  );
}
