import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/**
 * Adding one tag to an HTML page on its way to the browser (the idle notice's
 * `<script src>` in code-server's workbench page): what may be held back,
 * and the page with the tag before its `</head>`. Everything here works on a
 * whole, bounded page; anything it cannot handle safely (an unknown or
 * stacked encoding, a broken or oversized body, no `</head>`) leaves the page
 * as it came.
 */

/** Largest page held back to add the tag to, compressed and uncompressed: a bigger one passes untouched. */
export const MAX_INJECTED_PAGE_BYTES = 2 * 1024 * 1024;

export type PageEncoding = 'identity' | 'gzip' | 'br' | 'deflate';

/**
 * Whether an answer is a page the tag can go into, and in which encoding it
 * comes: undefined for anything else (not a 200, not HTML, an encoding we do
 * not read, or declared bigger than the bound). `rawHeaders` as received.
 */
export function injectablePage(statusCode: number, rawHeaders: string[]): PageEncoding | undefined {
  if (statusCode !== 200) return undefined;
  let html = false;
  let encoding: PageEncoding = 'identity';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!.trim().toLowerCase();
    if (name === 'content-type') html = value.startsWith('text/html');
    else if (name === 'content-length' && !(Number(value) <= MAX_INJECTED_PAGE_BYTES)) return undefined;
    else if (name === 'content-encoding') {
      const known = encodingOf(value);
      if (!known) return undefined;
      encoding = known;
    }
  }
  return html ? encoding : undefined;
}

function encodingOf(value: string): PageEncoding | undefined {
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'br') return 'br';
  if (value === 'deflate') return 'deflate';
  return undefined;
}

/** The page, uncompressed, with `tag` right before `</head>`; undefined when that cannot be done. */
export function withTag(body: Buffer, encoding: PageEncoding, tag: string): Buffer | undefined {
  const html = decoded(body, encoding);
  if (!html) return undefined;
  const at = headEnd(html);
  if (at === -1) return undefined;
  return Buffer.concat([html.subarray(0, at), Buffer.from(tag), html.subarray(at)]);
}

function decoded(body: Buffer, encoding: PageEncoding): Buffer | undefined {
  // A bounded output: a small compressed body may not unpack into a large one (a "zip bomb").
  const bound = { maxOutputLength: MAX_INJECTED_PAGE_BYTES };
  try {
    if (encoding === 'identity') return body;
    if (encoding === 'gzip') return gunzipSync(body, bound);
    if (encoding === 'br') return brotliDecompressSync(body, bound);
    try {
      return inflateSync(body, bound);
    } catch {
      // Some servers send raw deflate, without the zlib wrapper HTTP asks for.
      return inflateRawSync(body, bound);
    }
  } catch {
    return undefined;
  }
}

/** Where `</head>` starts (in upper, lower or mixed case), or -1. */
function headEnd(html: Buffer): number {
  const lower = html.toString('latin1').toLowerCase();
  return lower.indexOf('</head>');
}
