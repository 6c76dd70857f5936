import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';
import { BadRequestError } from '../errors.js';
import { forwardedHost, type OriginPolicy } from './origin.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = `(?:${OCTET}\\.){3}${OCTET}`;
const LABEL = '[A-Za-z0-9_-]{1,63}';
/**
 * A name whose last label is a number (`a.123`, `a.0x1f`, `999.1.1.1`) is
 * read as an IPv4 address by URL parsers, and is not one.
 */
const NOT_A_NUMBER = '(?!(?:\\d+|0[xX][0-9A-Fa-f]*)\\.?(?::|$))';
const NAME = `(?:${LABEL}\\.)*${NOT_A_NUMBER}${LABEL}\\.?`;
/** Loose here; the address itself is checked by isIPv6 (a rare form, off the usual path). */
const IPV6 = '\\[[0-9A-Fa-f:.]{2,45}\\]';
const PORT = '(?::(?:[1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5]))?';
/** host[:port] as browsers send it: a DNS-style name, an IPv4 address or an [IPv6] literal; a port of 1–65535. */
const AUTHORITY = new RegExp(`^(?:${IPV4}|${NAME}|${IPV6})${PORT}$`);
/** Forms the pattern lets through that URL parsing may still refuse: IPv6 literals and punycode labels. */
const PARSER_CHECKED = /^\[|xn--/i;

/**
 * Whether `value` is an authority the gateway can build its own URLs from
 * (login redirects, the public origin, Origin comparisons) without a URL
 * parser throwing on it.
 */
export function isAuthority(value: string): boolean {
  if (!AUTHORITY.test(value)) return false;
  if (!PARSER_CHECKED.test(value)) return true;
  if (value[0] === '[' && !isIPv6(value.slice(1, value.indexOf(']')))) return false;
  try {
    new URL(`http://${value}`);
    return true;
  } catch {
    return false;
  }
}

const badHost = (what: string) => new BadRequestError(`The ${what} header is not a valid host name.`, 'bad_host');

/**
 * The request's Host (and a trusted proxy's X-Forwarded-Host) must be one
 * authority, or the request is refused before anything else happens: the
 * gateway builds URLs from it, forwards it to the workspace and compares
 * Origins with it. Node keeps only the first of several Host headers, so
 * two are counted in the raw headers: a proxy in front may have read the other.
 * Returns the refusal, or undefined.
 */
export function hostRefusal(req: IncomingMessage, policy: OriginPolicy): BadRequestError | undefined {
  const host = req.headers.host;
  // An empty Host is allowed by HTTP for targets without an authority; it is treated as absent.
  if (host && !isAuthority(host)) return badHost('Host');
  if (req.headers['x-forwarded-host'] !== undefined) {
    const told = forwardedHost(req, policy);
    if (told !== undefined && !isAuthority(told)) return badHost('X-Forwarded-Host');
  }
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) {
      return new BadRequestError('The request has more than one Host header.', 'bad_host');
    }
  }
  return undefined;
}
