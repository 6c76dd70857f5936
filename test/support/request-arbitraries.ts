/**
 * Generated hostile requests, written raw to the gateway's port: request
 * lines with odd methods, targets and versions; header blocks with bad
 * characters, conflicting framing, spoofed forwarding headers, bad hosts,
 * every kind of token, huge sizes; bodies valid, broken, cut off or followed
 * by a pipelined request or WebSocket frames; written in pieces some ms
 * apart; then the client half-closes, resets, keeps reading, or never reads.
 *
 * Tokens and the gateway's host appear as placeholders (`{{mallory}}`,
 * `{{host}}`) filled in at send time, so a counterexample says which token it
 * used. The request is a latin1 string: the bytes as they go out.
 */
import fc from 'fast-check';
import { bytes } from './answer-arbitraries.js';

/** What the client does once its bytes are out. */
export type ClientEnd = 'end' | 'reset' | 'read' | 'unread';

export interface HostileRequest {
  pieces: string[];
  gapMs: number;
  then: ClientEnd;
}

/**
 * Token placeholders: only `mallory` (and `mallory-admin`, with admin access
 * off) are valid; none of the alice ones may open alice's workspace.
 */
export const TOKEN_KINDS = [
  'mallory',
  'mallory-admin',
  'mallory-refresh',
  'alice-refresh',
  'alice-wrong-secret',
  'alice-expired',
  'alice-alg-none',
  'me',
  'garbage',
  'empty',
] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

const SIMPLEST_FIRST = { withCrossShrink: true };
const token = fc.constantFrom(...TOKEN_KINDS).map((k) => `{{${k}}}`);

const method = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant('GET'), weight: 10 },
  { arbitrary: fc.constantFrom('POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH'), weight: 4 },
  { arbitrary: fc.constantFrom('CONNECT', 'TRACE', 'get', 'G\x00T', 'PRI', '', 'GET GET', 'X'.repeat(100), 'G\xe9T'), weight: 2 },
);

/** Whose workspace: mostly the attacker's own or the honest student's, sometimes an odd spelling of one. */
const userSegment = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant('mallory'), weight: 5 },
  { arbitrary: fc.constant('alice'), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      'Mallory',
      '%6dallory',
      '%61lice',
      'mallory%2F..',
      'alice%2f',
      '..',
      '.',
      '%2e%2e',
      'me',
      '',
      'a'.repeat(300),
      'mal\\lory',
      '%00',
      'm\xe4l',
      '%zz',
      '%2561lice',
      'mallory;alice',
    ),
    weight: 3,
  },
);
const restSegment = fc.constantFrom(
  '/__echo',
  '/',
  '',
  '/__bytes?size=1m',
  '/../alice/__echo',
  '/%2e%2e/alice/__echo',
  '/..%2Falice/__echo',
  '/..\\alice',
  '\\..\\alice\\__echo',
  '//__echo',
  '/__echo#frag',
  '/__echo%00',
  '/\xe9',
  '/ spaced',
  '/__echo?n=%zz',
  '/__raw?plan=garbage',
);
const query = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant(''), weight: 6 },
  { arbitrary: fc.constantFrom('?a=b', '?%', '?a=%zz&b', `?${'q'.repeat(9000)}`), weight: 1 },
);

const target = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.tuple(userSegment, restSegment, query).map(([u, r, q]) => `/ws/${u}${r}${q}`), weight: 6 },
  {
    arbitrary: fc.constantFrom(
      '/ws/me/',
      '/healthz',
      '/readyz',
      '/metrics',
      '/api/workspaces/me',
      '/api/workspaces/mallory/stop',
      '/api/workspaces/alice',
      '/',
      '*',
      '',
      'http://127.0.0.1/ws/mallory/__echo',
      'http://evil.example/ws/alice/__echo',
      '//ws/alice/__echo',
      '/ws//alice/__echo',
    ),
    weight: 2,
  },
);

const version = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant('HTTP/1.1'), weight: 10 },
  { arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/9.9', '', 'http/1.1', 'HTTP/1.1 extra'), weight: 2 },
);

const eol = fc.oneof(SIMPLEST_FIRST, { arbitrary: fc.constant('\r\n'), weight: 9 }, { arbitrary: fc.constant('\n'), weight: 1 });

const host = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant<string[]>(['Host: {{host}}']), weight: 10 },
  { arbitrary: fc.constant([] as string[]), weight: 1 },
  { arbitrary: fc.constantFrom('a:99999', '[', 'a b', '%zz', '', 'evil.example', '{{host}}, evil.example', '\xe9').map((h) => [`Host: ${h}`]), weight: 3 },
  { arbitrary: fc.constant<string[]>(['Host: {{host}}', 'Host: evil.example']), weight: 1 },
);

/**
 * Most requests carry the attacker's own valid cookie, so they get past
 * authentication into the proxy; many carry a token for the honest student
 * that must not open her workspace.
 */
const credentials = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant<string[]>(['Cookie: workspace_token={{mallory}}']), weight: 5 },
  {
    arbitrary: fc.constantFrom('alice-refresh', 'alice-wrong-secret', 'alice-expired', 'alice-alg-none').map((k) => [`Cookie: workspace_token={{${k}}}`]),
    weight: 3,
  },
  { arbitrary: token.map((t) => [`Cookie: workspace_token=${t}`]), weight: 1 },
  { arbitrary: fc.constant([] as string[]), weight: 1 },
);

/** A browser's page load, a script's request, or a bare client: the gateway answers each differently (login redirects, pages). */
const client = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant([] as string[]), weight: 3 },
  { arbitrary: fc.constant(['Accept: text/html', 'Sec-Fetch-Mode: navigate', 'Sec-Fetch-Dest: document']), weight: 3 },
  { arbitrary: fc.constant(['Accept: application/json', 'Sec-Fetch-Mode: cors']), weight: 2 },
);

const websocketHead = fc.subarray(['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='], {
  minLength: 2,
});

const header: fc.Arbitrary<string[]> = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: token.map((t) => [`Cookie: workspace_token=${t}`]), weight: 6 },
  { arbitrary: fc.tuple(token, token).map(([a, b]) => [`Cookie: a=b; workspace_token=${a}; workspace_token=${b}`]), weight: 1 },
  { arbitrary: token.map((t) => [`Authorization: Bearer ${t}`]), weight: 2 },
  { arbitrary: fc.constantFrom('Authorization: Basic eDp5', 'Authorization: Bearer', 'Authorization: Bearer a.b.c').map((l) => [l]), weight: 1 },
  { arbitrary: fc.constantFrom('0', '5', '-1', 'abc', '1e3', ' 5', '5, 6', '99999999999999999999', '100000').map((v) => [`Content-Length: ${v}`]), weight: 3 },
  { arbitrary: fc.constant<string[]>(['Content-Length: 5', 'Content-Length: 6']), weight: 1 },
  {
    arbitrary: fc
      .constantFrom('chunked', 'gzip, chunked', 'chunked, gzip', 'identity', 'CHUNKED', ' chunked', 'chunked\x00')
      .map((v) => [`Transfer-Encoding: ${v}`]),
    weight: 3,
  },
  { arbitrary: fc.constant<string[]>(['Transfer-Encoding: chunked', 'Content-Length: 5']), weight: 1 },
  { arbitrary: websocketHead, weight: 3 },
  {
    arbitrary: fc
      .constantFrom(
        'Upgrade: h2c',
        'Upgrade: garbage\x01',
        'Connection: Upgrade, HTTP2-Settings',
        'Sec-WebSocket-Version: 8',
        'Sec-WebSocket-Key: short',
        'Connection: close',
        'Connection: keep-alive',
      )
      .map((l) => [l]),
    weight: 2,
  },
  { arbitrary: fc.constantFrom('Origin: http://{{host}}', 'Origin: http://evil.example', 'Origin: null', 'Origin: %%%').map((l) => [l]), weight: 2 },
  {
    arbitrary: fc
      .constantFrom(
        'Sec-Fetch-Mode: navigate',
        'Sec-Fetch-Site: same-site',
        'Sec-Fetch-Site: cross-site',
        'Sec-Fetch-Site: none',
        'Sec-Fetch-Dest: document',
        'Accept: text/html',
        'Accept: application/json',
        'Expect: 100-continue',
        'Expect: garbage',
      )
      .map((l) => [l]),
    weight: 3,
  },
  {
    arbitrary: fc
      .constantFrom(
        'X-Forwarded-For: 10.0.0.1',
        'X-Forwarded-Host: a:99999',
        'X-Forwarded-Host: [',
        'X-Forwarded-Proto: gopher',
        'X-Workspace-Gateway-Peer: 10.9.9.9',
        'X-Remote-User: alice',
        'Forwarded: for=1.2.3.4',
      )
      .map((l) => [l]),
    weight: 2,
  },
  {
    arbitrary: fc
      .constantFrom('Bad Header: x', 'NoColon', ': v', 'X-Nul: a\x00b', 'X-Cr: a\rb', ' folded', 'X-Lat: \xe9', 'X-Del: \x7f', '\xff\xfe: x')
      .map((l) => [l]),
    weight: 2,
  },
  { arbitrary: fc.integer({ min: 1000, max: 40_000 }).map((n) => [`X-Huge: ${'a'.repeat(n)}`]), weight: 1 },
  { arbitrary: fc.integer({ min: 50, max: 400 }).map((n) => Array.from({ length: n }, (_, i) => `X-Many-${i}: 1`)), weight: 1 },
);

const body = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant(''), weight: 6 },
  {
    arbitrary: fc.constantFrom(
      'hello',
      '5\r\nhello\r\n0\r\n\r\n',
      'zz\r\nhello\r\n',
      'ffffffffffffffffff\r\n',
      '5\r\nhel',
      '5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n',
      '-1\r\n',
      '0\r\n\r\n',
    ),
    weight: 3,
  },
  {
    arbitrary: fc.constantFrom(
      'GET /ws/alice/__echo HTTP/1.1\r\nHost: {{host}}\r\nCookie: workspace_token={{mallory}}\r\n\r\n',
      'GET /ws/mallory/__echo HTTP/1.1\r\nHost: {{host}}\r\nCookie: workspace_token={{mallory}}\r\n\r\n',
      'GET /ws/mallory/__echo HTTP/1.1\r\nHost: {{host}}\r\nCookie: workspace_token={{alice-refresh}}\r\nX-Remote-User: alice\r\n\r\n',
    ),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(
      '\x81\x85\x01\x02\x03\x04iganm',
      '\x81\x05hello',
      '\x81\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04',
      '\x88\x80\x01\x02\x03\x04',
      '\x00\x00\x00',
    ),
    weight: 2,
  },
  { arbitrary: bytes(60), weight: 1 },
);

const then = fc.oneof(
  SIMPLEST_FIRST,
  { arbitrary: fc.constant<ClientEnd>('end'), weight: 6 },
  { arbitrary: fc.constant<ClientEnd>('reset'), weight: 2 },
  { arbitrary: fc.constant<ClientEnd>('read'), weight: 1 },
  { arbitrary: fc.constant<ClientEnd>('unread'), weight: 1 },
);

export const hostileRequest: fc.Arbitrary<HostileRequest> = fc
  .record({
    line: fc.tuple(method, target, version).map(([m, t, v]) => (v === '' ? `${m} ${t}` : `${m} ${t} ${v}`)),
    host,
    credentials,
    client,
    headers: fc.array(header, { maxLength: 6 }),
    eol,
    body,
    cut: fc.oneof(SIMPLEST_FIRST, { arbitrary: fc.constant(null), weight: 5 }, { arbitrary: fc.nat(), weight: 1 }),
    splits: fc.array(fc.nat(), { maxLength: 5 }),
    gapMs: fc.oneof(SIMPLEST_FIRST, { arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.integer({ min: 1, max: 60 }), weight: 2 }),
    then,
  })
  .map(({ line, host, credentials, client, headers, eol, body, cut, splits, gapMs, then }) => {
    const whole = [line, ...host, ...credentials, ...client, ...headers.flat()].join(eol) + eol + eol + body;
    const text = cut === null ? whole : whole.slice(0, cut % (whole.length + 1));
    // A placeholder stays in one piece, or it could not be filled in.
    const holes = [...text.matchAll(/\{\{[a-z-]+\}\}/g)].map((m) => [m.index, m.index + m[0].length] as const);
    const outside = (s: number) => holes.find(([from, to]) => s > from && s < to)?.[1] ?? s;
    const at = [...new Set(splits.map((s) => outside(s % (text.length + 1))))].filter((s) => s > 0 && s < text.length).sort((a, b) => a - b);
    const pieces: string[] = [];
    let from = 0;
    for (const c of [...at, text.length]) {
      pieces.push(text.slice(from, c));
      from = c;
    }
    return { pieces: pieces.filter((p) => p.length > 0), gapMs, then };
  });

/** Readable form: the pieces as JS strings, long runs of one character shortened. */
export function describeRequest(r: HostileRequest): string {
  const shorten = (s: string) => JSON.stringify(s).replace(/(.)\1{19,}/g, (run, c: string) => `${c}…(${run.length}×)`);
  return `pieces [${r.pieces.map(shorten).join(', ')}], gapMs ${r.gapMs}, then ${r.then}`;
}

/** The request's bytes with tokens and host filled in. */
export function fillIn(piece: string, values: Record<string, string>): Buffer {
  return Buffer.from(
    piece.replace(/\{\{([a-z-]+)\}\}/g, (all, name: string) => values[name] ?? all),
    'latin1',
  );
}
