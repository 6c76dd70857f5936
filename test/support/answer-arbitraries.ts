/**
 * Generated hostile answers of a workspace, as plans for the demo
 * workspace's `/__raw` (plain requests and upgrades; hostile-answer.ts encodes them):
 * the bytes it writes on its socket, in pieces some ms apart, and what it
 * does after (close, reset, hold, keep). The bytes are latin1 strings so a
 * shrunk counterexample reads as what went over the wire.
 *
 * The grammar: informational heads (1xx, up to storms), a final answer
 * (status line, headers, framing and body, each valid or broken in the ways
 * parsers and proxies get wrong), extra bytes after it, an optional cut, then
 * the split into pieces.
 */
import fc from 'fast-check';
import type { AfterAnswer, Segment } from './hostile-answer.js';

export interface HostileAnswer {
  /** `times` > 1 for the huge parts (the plan carries them once with a count). */
  pieces: Segment[];
  gapMs: number;
  after: AfterAnswer;
}

/** Shrinking may move to the first (simplest) alternative of a oneof, not only within the one drawn. */
const SIMPLEST_FIRST = { withCrossShrink: true };

const once = (text: string): Segment => ({ text, times: 1 });
const many = (text: string, times: number): Segment => ({ text, times });

/** Any bytes, as a latin1 string. */
export const bytes = (maxLength: number): fc.Arbitrary<string> => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b).toString('latin1'));

const eol = fc.oneof(SIMPLEST_FIRST, { arbitrary: fc.constant('\r\n'), weight: 9 }, { arbitrary: fc.constant('\n'), weight: 1 });

const version = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant('HTTP/1.1'), weight: 12 },
  { arbitrary: fc.constant('HTTP/1.0'), weight: 2 },
  { arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', '', 'XTTP/1.1', 'HTTP/1.1\0', 'HTTP/11'), weight: 2 },
);

const status = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constantFrom('200', '201', '204', '206', '301', '302', '304', '400', '404', '500', '502', '503'), weight: 8 },
  {
    arbitrary: fc.constantFrom('000', '099', '100', '101', '102', '103', '199', '600', '999', '1000', '20', '2000', '-1', 'abc', '', ' 200', '200 ', '0200'),
    weight: 5,
  },
  { arbitrary: fc.integer({ min: 0, max: 999 }).map((n) => String(n).padStart(3, '0')), weight: 2 },
);

const reason = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constantFrom('OK', 'X', ''), weight: 6 },
  { arbitrary: fc.constantFrom('\xe9t\xe9', 'a\x01b', 'a\x00b', 'a\rb', 'a\x7fb'), weight: 1 },
  { arbitrary: bytes(12), weight: 1 },
);

export const statusLine = fc.tuple(version, status, reason, eol).map(([v, s, r, e]) => [once(`${v} ${s}${r === '' ? '' : ' ' + r}${e}`)]);

/** A status line of an informational answer (the gateway must not pass these on, nor mistake them for the answer). */
const informational = fc.oneof(
  SIMPLEST_FIRST,
  fc.constant('HTTP/1.1 100 Continue\r\n\r\n'),
  fc.constant('HTTP/1.1 102 Processing\r\n\r\n'),
  fc.constant('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'),
  fc.constant('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
  fc.constant('HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nhello'),
  fc.constant('HTTP/1.1 199 Whatever\r\nX-A: 1\r\n\r\n'),
);

export const prelude: fc.Arbitrary<Segment[]> = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant<Segment[]>([]), weight: 8 },
  { arbitrary: fc.array(informational.map(once), { minLength: 1, maxLength: 4 }), weight: 2 },
  // A storm: hundreds or thousands of 1xx heads before (or instead of) an answer.
  { arbitrary: fc.tuple(informational, fc.integer({ min: 50, max: 3000 })).map(([head, n]) => [many(head, n)]), weight: 1 },
);

/** Header lines besides the framing ones; each valid, odd or broken. */
const headerLine: fc.Arbitrary<Segment[]> = fc.oneof(
  SIMPLEST_FIRST,
  {
    arbitrary: fc
      .constantFrom(
        'Content-Type: text/plain',
        'Connection: keep-alive',
        'Connection: close',
        'Keep-Alive: timeout=1',
        'Set-Cookie: a=b; Path=/',
        'Location: /elsewhere',
        'Cache-Control: no-store',
      )
      .map((l) => [once(l)]),
    weight: 10,
  },
  {
    arbitrary: fc
      .constantFrom(
        'Connection: upgrade',
        'Upgrade: websocket',
        'Proxy-Connection: keep-alive',
        'Trailer: X-T',
        'Content-Encoding: gzip',
        'Transfer-Encoding:',
        'Content-Length:',
      )
      .map((l) => [once(l)]),
    weight: 3,
  },
  {
    arbitrary: fc
      .constantFrom(
        'Bad Name: x',
        'X:Y:Z',
        'NoColon',
        ': empty-name',
        'X-Nul: a\x00b',
        'X-Del: a\x7fb',
        'X-Cr: a\rb',
        ' folded: continuation',
        '\tobs-fold',
        'X-L\xe9: x',
        'X-V: \xe9\xff',
        '(): x',
      )
      .map((l) => [once(l)]),
    weight: 3,
  },
  // Huge: one header beyond the 16 KiB head limit, or a few hundred small ones.
  { arbitrary: fc.integer({ min: 1000, max: 40_000 }).map((n) => [once('X-Huge: '), many('a', n)]), weight: 1 },
  { arbitrary: fc.integer({ min: 50, max: 2000 }).map((n) => [many('X-Many: 1\r\n', n), once('X-Last: 1')]), weight: 1 },
);

const smallBody = fc.oneof(SIMPLEST_FIRST, { arbitrary: fc.constantFrom('', 'hello', 'x'.repeat(100)), weight: 3 }, { arbitrary: bytes(40), weight: 1 });

const lengthValue = (length: number): fc.Arbitrary<string> =>
  fc.oneof(
    SIMPLEST_FIRST,
    { arbitrary: fc.constant(String(length)), weight: 8 },
    { arbitrary: fc.constantFrom(String(length + 1), String(Math.max(0, length - 1)), String(length + 1000), '0'), weight: 3 },
    {
      arbitrary: fc.constantFrom(
        `+${length}`,
        ` ${length}`,
        `${length} `,
        `0${length}`,
        `${length},${length}`,
        `${length}, ${length + 1}`,
        '-1',
        'abc',
        '1e3',
        '99999999999999999999',
        '0x10',
        '',
      ),
      weight: 2,
    },
  );

const chunkSize = (size: number): fc.Arbitrary<string> =>
  fc.oneof(
    SIMPLEST_FIRST,
    { arbitrary: fc.constant(size.toString(16)), weight: 8 },
    { arbitrary: fc.constantFrom(size.toString(16).toUpperCase(), `${size.toString(16)};ext=1`, `${size.toString(16)} `, `0${size.toString(16)}`), weight: 2 },
    { arbitrary: fc.constantFrom('zz', '-1', 'ffffffffffffffffff', '', ' ', (size + 1).toString(16), `${size.toString(16)}\x00`), weight: 2 },
  );

const chunk = smallBody.filter((b) => b.length > 0).chain((data) => fc.tuple(chunkSize(data.length), eol).map(([size, e]) => `${size}${e}${data}${e}`));

const chunkedBody = fc
  .tuple(
    fc.array(chunk, { maxLength: 4 }),
    fc.oneof(
      SIMPLEST_FIRST,
      { arbitrary: fc.constant('0\r\n\r\n'), weight: 6 },
      { arbitrary: fc.constantFrom('', '0\r\n', '0\r\nX-Trailer: 1\r\n\r\n', '0\r\nBad Trailer\r\n\r\n', '0\n\n'), weight: 2 },
    ),
  )
  .map(([chunks, last]) => chunks.join('') + last);

/** A chunk of 2 KiB, repeated: large chunked bodies whose plan still fits in a URL. */
const BIG_CHUNK = `800\r\n${'z'.repeat(0x800)}\r\n`;

/**
 * Large bodies (100 KiB to 2 MiB): the client's buffer fills, so the
 * workspace's socket is paused and resumed while the answer streams.
 */
const bigBody: fc.Arbitrary<{ headers: string[]; body: Segment[] }> = fc.oneof(
  SIMPLEST_FIRST,
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 100_000, max: 2_000_000 }), fc.constantFrom(0, 0, 0, 1, -1, 1000))
      .map(([n, delta]) => ({ headers: [`Content-Length: ${n + delta}`], body: [many('z', n)] })),
    weight: 2,
  },
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 50, max: 1000 }), fc.constantFrom('0\r\n\r\n', ''))
      .map(([n, last]) => ({ headers: ['Transfer-Encoding: chunked'], body: [many(BIG_CHUNK, n), once(last)] })),
    weight: 1,
  },
);

/** Framing headers and body together (they only make sense as a pair). */
const smallFraming: fc.Arbitrary<{ headers: string[]; body: string }> = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: smallBody.chain((body) => lengthValue(body.length).map((v) => ({ headers: [`Content-Length: ${v}`], body }))), weight: 6 },
  {
    arbitrary: fc.tuple(smallBody, fc.nat(20), fc.nat(20)).map(([body, a, b]) => ({ headers: [`Content-Length: ${a}`, `Content-Length: ${b}`], body })),
    weight: 1,
  },
  { arbitrary: chunkedBody.map((body) => ({ headers: ['Transfer-Encoding: chunked'], body })), weight: 4 },
  { arbitrary: fc.tuple(chunkedBody, fc.nat(50)).map(([body, n]) => ({ headers: ['Transfer-Encoding: chunked', `Content-Length: ${n}`], body })), weight: 1 },
  {
    arbitrary: fc
      .tuple(chunkedBody, fc.constantFrom('chunked, gzip', 'gzip, chunked', 'identity', 'chunked, chunked', 'CHUNKED', ' chunked', 'gzip'))
      .map(([body, te]) => ({ headers: [`Transfer-Encoding: ${te}`], body })),
    weight: 1,
  },
  { arbitrary: fc.tuple(chunkedBody).map(([body]) => ({ headers: ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], body })), weight: 1 },
  // Neither: the body runs until the connection closes.
  { arbitrary: smallBody.map((body) => ({ headers: [], body })), weight: 2 },
);

export const framing: fc.Arbitrary<{ headers: string[]; body: Segment[] }> = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: smallFraming.map(({ headers, body }) => ({ headers, body: body ? [once(body)] : [] })), weight: 9 },
  { arbitrary: bigBody, weight: 1 },
);

export const finalAnswer: fc.Arbitrary<Segment[]> = fc
  .tuple(statusLine, fc.array(headerLine, { maxLength: 4 }), framing, eol, fc.boolean())
  .map(([line, others, frame, e, framingFirst]) => {
    const lines: Segment[][] = frame.headers.map((h) => [once(h)]);
    const all = framingFirst ? [...lines, ...others] : [...others, ...lines];
    return [...line, ...all.flatMap((l) => [...l, once(e)]), once(e), ...frame.body];
  });

/** What comes after a complete answer: nothing, or bytes nobody asked for. */
export const extra: fc.Arbitrary<Segment[]> = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant<Segment[]>([]), weight: 8 },
  {
    arbitrary: fc
      .constantFrom(
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello',
        'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart',
        'HTTP/1.1 100 Continue\r\n\r\n',
        'HTTP/1.1 099 X\r\n\r\n',
        'HTTP/1.1 20',
        '\r\n',
        'a body for a 204 or 304',
      )
      .map((t) => [once(t)]),
    weight: 4,
  },
  { arbitrary: bytes(30).map((t) => [once(t)]), weight: 1 },
);

/** Cuts the segments after `at` bytes (a repeated segment keeps the whole repeats that fit). */
function cutAt(segments: Segment[], at: number): Segment[] {
  const out: Segment[] = [];
  let left = at;
  for (const s of segments) {
    const size = s.text.length * s.times;
    if (left >= size) {
      out.push(s);
      left -= size;
      continue;
    }
    if (s.times > 1) out.push(many(s.text, Math.floor(left / s.text.length)));
    else out.push(once(s.text.slice(0, left)));
    break;
  }
  return out.filter((s) => s.times > 0 && s.text.length > 0);
}

/** Splits the plain segments at the given offsets (modulo their length); repeated ones stay whole. */
function splitAt(segments: Segment[], cuts: number[]): Segment[] {
  const merged: Segment[] = [];
  for (const s of segments) {
    const last = merged[merged.length - 1];
    if (s.times === 1 && last && last.times === 1) last.text += s.text;
    else merged.push({ ...s });
  }
  return merged.flatMap((s) => {
    if (s.times > 1 || cuts.length === 0 || s.text.length < 2) return [s];
    const at = [...new Set(cuts.map((c) => 1 + (c % (s.text.length - 1))))].sort((a, b) => a - b);
    const parts: Segment[] = [];
    let from = 0;
    for (const c of at) {
      parts.push(once(s.text.slice(from, c)));
      from = c;
    }
    parts.push(once(s.text.slice(from)));
    return parts;
  });
}

const gapMs = fc.oneof(SIMPLEST_FIRST, { arbitrary: fc.constant(0), weight: 7 }, { arbitrary: fc.integer({ min: 1, max: 30 }), weight: 3 });
const after = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant<AfterAnswer>('close'), weight: 4 },
  { arbitrary: fc.constant<AfterAnswer>('reset'), weight: 3 },
  { arbitrary: fc.constant<AfterAnswer>('keep'), weight: 2 },
  { arbitrary: fc.constant<AfterAnswer>('hold'), weight: 1 },
);

/** Assembles an answer's parts, cut and split as generated. */
export function hostileAnswer(parts: fc.Arbitrary<Segment[]>): fc.Arbitrary<HostileAnswer> {
  return fc
    .record({
      parts,
      // Most answers whole; some cut off anywhere.
      cut: fc.oneof(SIMPLEST_FIRST, { arbitrary: fc.constant(null), weight: 3 }, { arbitrary: fc.nat(), weight: 1 }),
      splits: fc.array(fc.nat(), { maxLength: 4 }),
      gapMs,
      after,
    })
    .map(({ parts, cut, splits, gapMs, after }) => {
      const size = parts.reduce((n, s) => n + s.text.length * s.times, 0);
      const kept = cut === null || size === 0 ? parts : cutAt(parts, cut % size);
      return { pieces: splitAt(kept, splits), gapMs, after };
    });
}

/** A workspace's answer to a plain HTTP request. */
export const hostileHttpAnswer: fc.Arbitrary<HostileAnswer> = hostileAnswer(
  fc.tuple(prelude, fc.option(finalAnswer, { freq: 12 }), extra).map(([p, f, x]) => [...p, ...(f ?? []), ...x]),
);

/** The request Sec-WebSocket-Accept answers (the fuzz client always sends this key). */
export const WEBSOCKET_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const WEBSOCKET_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

const frames = fc.constantFrom(
  '',
  '\x81\x05hello',
  '\x88\x02\x03\xe8',
  '\x81\x7f\xff\xff\xff\xff\xff\xff\xff\xff',
  '\x82\x7e\x00\x10short',
  'not a frame at all',
  '\x81\x85\x01\x02\x03\x04masked-by-a-server',
);

const switching = fc
  .tuple(
    fc.constantFrom('HTTP/1.1 101 Switching Protocols', 'HTTP/1.1 101 ', 'HTTP/1.0 101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\x00'),
    fc.subarray([
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${WEBSOCKET_ACCEPT}`,
      'Sec-WebSocket-Accept: wrong',
      'Content-Length: 5',
      'Transfer-Encoding: chunked',
    ]),
    fc.constantFrom('\r\n\r\n', '\n\n', '\r\n'),
    frames,
  )
  .map(([line, headers, end, f]) => [once([line, ...headers].join('\r\n') + end + f)]);

/** A workspace's answer to an upgrade: a 101 (good, odd or broken), a refusal, or neither. */
export const hostileUpgradeAnswer: fc.Arbitrary<HostileAnswer> = hostileAnswer(
  fc
    .tuple(
      prelude,
      fc.oneof(
        SIMPLEST_FIRST,
        { arbitrary: switching, weight: 4 },
        { arbitrary: finalAnswer, weight: 4 },
        { arbitrary: fc.constant([] as Segment[]), weight: 1 },
      ),
      extra,
    )
    .map(([p, f, x]) => [...p, ...f, ...x]),
);

/** Readable form for a counterexample: the pieces as JS string literals, repeats marked. */
export function describeAnswer(answer: HostileAnswer): string {
  const pieces = answer.pieces.map((s) => (s.times === 1 ? JSON.stringify(s.text) : `${JSON.stringify(s.text)}×${s.times}`));
  return `pieces [${pieces.join(', ')}], gapMs ${answer.gapMs}, after ${answer.after}`;
}
