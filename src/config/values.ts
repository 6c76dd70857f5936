import { isIP } from 'node:net';

/** Parsers for the textual forms settings take in the environment and YAML. */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `45s`, `30m`, `24h`, `7d`, `250ms` or plain seconds → milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? 's']!);
}

const BYTES = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i;
const BYTE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Docker-style sizes: `512m`, `2g`, `2GiB`, or plain bytes. */
export function parseBytes(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  const match = BYTES.exec(value.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? 'b')[0]!.toLowerCase();
  return Math.round(Number(match[1]) * BYTE_UNITS[unit]!);
}

export function parseBoolean(value: string | boolean): boolean | undefined {
  if (typeof value === 'boolean') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  return undefined;
}

/** Comma-separated in the environment, a list in YAML. */
export function parseList(value: string | string[]): string[] {
  const items = Array.isArray(value) ? value : value.split(',');
  return items.map((s) => String(s).trim()).filter((s) => s.length > 0);
}

/** An IP address, optionally with /bits (GATEWAY_TRUSTED_PROXIES entries). */
export function isAddressOrCidr(entry: string): boolean {
  const [address, bits, extra] = entry.split('/');
  const version = isIP(address ?? '');
  if (!version || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n >= 0 && n <= (version === 4 ? 32 : 128);
}

/** A browser origin as `Origin` carries it: scheme, host and port, no path. */
export function isOrigin(entry: string): boolean {
  try {
    const url = new URL(entry);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === entry;
  } catch {
    return false;
  }
}
