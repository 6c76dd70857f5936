import { BlockList, isIP } from 'node:net';

/**
 * Which peers may tell us who the client is (`X-Forwarded-*`): the edge
 * proxies an operator lists in GATEWAY_TRUSTED_PROXIES (addresses or CIDRs).
 * Everyone else's forwarding headers are replaced, never believed.
 */
export function createProxyTrust(entries: string[]): (address: string | undefined) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const family = isIP(address!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address!, family);
    else list.addSubnet(address!, Number(bits), family);
  }
  return (address) => {
    if (!address) return false;
    // IPv4 peers on a dual-stack socket arrive as ::ffff:a.b.c.d.
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    return list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  };
}
