// The simulated editors of the bench's editors part (bench/lib/editors.mjs):
// N code-server tabs, each with its two WebSockets (management and extension
// host), sending what a real tab sends (src/workspaces/activity.ts) to
// bench/editors-backend.mjs, directly or through the gateway. A process of its
// own, so the client's CPU (it compresses every message, as Chromium does)
// stays out of the bench's event loop and can be reported on its own.
//
// What each editor sends, every timer starting at a random phase so the
// editors do not tick in lockstep:
//   - a KeepAlive (13 bytes) every 5 s on each socket;
//   - an Ack (13 bytes) 2 s after it received a Regular message, unless it sent one since;
//   - `telemetry.ping` (38 bytes) on the management socket: 5, 2 s apart, every 70 s;
//   - when typing: `$acceptModelChanged` (~1.9 kB) on the extension host ~4 times
//     a second, and `remoteterminal.$input` (51 bytes) on the management socket
//     ~3 times a second (each gap uniform in 0.5-1.5× its mean).
// Every message but an Ack carries its own id, which the backend answers in
// the ack field of its reply: the round trip is send → that reply.
//
// Over IPC, each answered by a message with the key in brackets:
//   {open: {port, prefixed, users, tokens, typing, batch}} [opened]: open the editors' sockets;
//   'start' [started]: the editors start sending;
//   'measure' [measuring]: counters and latency samples from now on;
//   'stop' [stopped]: the editors stop; the window's figures once in-flight replies are in (≤ 2 s);
//   'close' [closed]: every socket closed.
import WebSocket from 'ws';
import { nowMs, percentile, sleep } from './lib/util.mjs';

process.once('disconnect', () => process.exit(0));

const HEADER = 13;
const REGULAR = 1;
const ACK = 3;
const KEEPALIVE = 9;
const KEEPALIVE_MS = 5000;
const ACK_DELAY_MS = 2000;
const TELEMETRY_CYCLE_MS = 70_000;
const TELEMETRY_BURST = 5;
const TELEMETRY_GAP_MS = 2000;
const EDIT_MEAN_MS = 250;
const KEY_MEAN_MS = 333;
const EMPTY = Buffer.alloc(0);

// ---------------------------------------------------------------------------
// Payloads.

/** A LEB128 varint, as VS Code's IPC writes lengths and integers. */
function varint(n) {
  const out = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return out;
}

/**
 * VS Code's IPC serialization (base/parts/ipc/common/ipc.ts), which the
 * management socket's channel calls use: tagged values (0 undefined, 1
 * string, 4 array, 5 object as JSON, 6 integer). With it the calls have the
 * measured sizes: `[100, id, 'telemetry', 'ping']` and no argument is 38 bytes
 * with the header, a terminal key 51 (request ids 128-16383: a tab that has
 * been open a minute).
 */
function ipc(value) {
  if (value === undefined) return Buffer.from([0]);
  if (typeof value === 'string') return Buffer.concat([Buffer.from([1, ...varint(Buffer.byteLength(value))]), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([Buffer.from([4, ...varint(value.length)]), ...value.map(ipc)]);
  if (Number.isInteger(value)) return Buffer.from([6, ...varint(value)]);
  const json = Buffer.from(JSON.stringify(value));
  return Buffer.concat([Buffer.from([5, ...varint(json.length)]), json]);
}

const ipcCall = (id, channel, method, arg) => Buffer.concat([ipc([100, id, channel, method]), ipc(arg)]);

// The bulk of a model change. What the real ~1.9 kB holds beyond the fields
// below was not recorded; the text of the file being edited stands in for it,
// so the message compresses as text does and stays the same from one
// keystroke to the next but for the typed line, as a real one does.
const SOURCE = `import csv
import sys
from collections import defaultdict
from statistics import mean, median


def read_grades(path):
    grades = defaultdict(list)
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            if len(row) != 2 or not row[1].strip():
                continue
            name, grade = row
            grades[name.strip()].append(float(grade))
    return grades


def summary(values):
    return {"count": len(values), "mean": mean(values), "median": median(values), "best": max(values)}


def report(grades, out=sys.stdout):
    for name, values in sorted(grades.items()):
        s = summary(values)
        print(f"{name:24} {s['count']:3d} {s['mean']:6.2f} {s['median']:6.2f} {s['best']:6.2f}", file=out)


def failing(grades, threshold=50.0):
    """Names whose mean grade is below the threshold."""
    below = [(mean(values), name) for name, values in grades.items() if mean(values) < threshold]
    return [name for _, name in sorted(below)]


if __name__ == "__main__":
    grades = read_grades(sys.argv[1])
    report(grades)
    print("below 50:", ", ".join(failing(grades)))
`;

/** `$acceptModelChanged` for one typed character (~1.9 kB), as JSON text: the extension host's RPC carries its arguments as JSON. */
function modelChange(editor, id, version) {
  const column = 5 + (version % 60);
  const event = {
    changes: [
      { range: { startLineNumber: 39, startColumn: column, endLineNumber: 39, endColumn: column }, rangeLength: 0, text: 'x', rangeOffset: 1400 + column },
    ],
    eol: '\n',
    versionId: version,
    isUndoing: false,
    isRedoing: false,
    isFlush: false,
    isEolChange: false,
    detailedReasons: [{ metadata: { source: 'cursor', kind: 'type', detailedSource: 'keyboard' } }],
    lines: `${SOURCE}    ${'x'.repeat(column - 5)}\n`,
  };
  return Buffer.from(JSON.stringify([100, id, 'ExtHostDocuments', '$acceptModelChanged', [editor.uri, event, true]]));
}

// ---------------------------------------------------------------------------
// Timers: all of them stop at once.

let running = false;
const timers = new Set();

function later(ms, fn) {
  const timer = setTimeout(() => {
    timers.delete(timer);
    if (running) fn();
  }, ms);
  timers.add(timer);
}

/** `fn` now and again every `meanMs` × 0.5-1.5 (jitter: `true`) or exactly `meanMs`, first after a random part of one period. */
function repeat(meanMs, fn, jitter) {
  const next = () => {
    fn();
    later(jitter ? meanMs * (0.5 + Math.random()) : meanMs, next);
  };
  later(Math.random() * meanMs, next);
}

function stopTimers() {
  running = false;
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
}

// ---------------------------------------------------------------------------
// Sockets and editors.

/** The measuring window (undefined during warm-up): what was sent in it, and the round trips of those messages. */
let window;
let editors = [];
let closing = false;
let dropped = 0;

class Channel {
  constructor(ws, socket, extensions) {
    this.ws = ws;
    this.socket = socket;
    this.deflate = /permessage-deflate/i.test(extensions);
    this.noContext = /client_no_context_takeover/i.test(extensions);
    this.seq = 0; // protocol message ids (KeepAlives too: the backend answers with it)
    this.request = 127; // IPC request ids
    this.received = 0; // the last Regular message's id from the workspace
    this.unacked = false;
    this.ackDue = false;
    this.pending = new Map();
    ws.on('message', (data) => this.onMessage(data));
    ws.on('error', () => {});
    ws.once('close', () => {
      if (!closing) dropped++;
    });
  }

  send(type, kind, data = EMPTY) {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const id = type === ACK ? 0 : ++this.seq;
    const m = Buffer.allocUnsafe(HEADER + data.length);
    m[0] = type;
    m.writeUInt32BE(id, 1);
    m.writeUInt32BE(type === KEEPALIVE ? 0 : this.received, 5);
    m.writeUInt32BE(data.length, 9);
    data.copy(m, HEADER);
    if (type === REGULAR) this.unacked = false;
    if (type !== ACK) this.pending.set(id, { at: nowMs(), kind, window });
    if (window) window.sent[kind] = (window.sent[kind] ?? 0) + 1;
    this.ws.send(m);
  }

  onMessage(data) {
    if (data.length < HEADER) return;
    if (data[0] === REGULAR) {
      this.received = data.readUInt32BE(1);
      this.unacked = true;
      if (!this.ackDue) {
        this.ackDue = true;
        later(ACK_DELAY_MS, () => {
          this.ackDue = false;
          if (this.unacked) this.send(ACK, 'ack');
        });
      }
    }
    const ack = data.readUInt32BE(5);
    const sent = this.pending.get(ack);
    if (!sent) return;
    this.pending.delete(ack);
    sent.window?.samples[sent.kind].push(nowMs() - sent.at);
  }

  call(channel, method, arg, kind) {
    this.send(REGULAR, kind, ipcCall(++this.request, channel, method, arg));
  }
}

function openSocket(url, headers) {
  return new Promise((resolve, reject) => {
    // As Chromium: offer permessage-deflate and compress every message.
    const ws = new WebSocket(url, { headers, perMessageDeflate: { threshold: 0 }, handshakeTimeout: 30_000 });
    let answer;
    ws.once('upgrade', (res) => (answer = res));
    ws.once('open', () => resolve(new Channel(ws, answer.socket, answer.headers['sec-websocket-extensions'] ?? '')));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} instead of a WebSocket`)));
    ws.once('error', reject);
  });
}

async function openEditor({ port, prefixed, user, token, typing }) {
  const base = `ws://127.0.0.1:${port}${prefixed ? `/ws/${user}` : ''}/`;
  // A browser sends its page's Origin (the gateway's own) and the cookie.
  const headers = { Origin: `http://127.0.0.1:${port}`, Cookie: `workspace_token=${token}` };
  const [management, extensionHost] = await Promise.allSettled([
    openSocket(`${base}?reconnectionToken=${user}-m&type=management`, headers),
    openSocket(`${base}?reconnectionToken=${user}-e&type=extensionHost`, headers),
  ]);
  if (management.status === 'rejected' || extensionHost.status === 'rejected') {
    for (const s of [management, extensionHost]) if (s.status === 'fulfilled') s.value.ws.terminate();
    throw management.reason ?? extensionHost.reason;
  }
  const path = `/home/coder/${user}/exercise/grades.py`;
  const uri = { $mid: 1, fsPath: path, external: `vscode-remote://localhost${path}`, path, scheme: 'vscode-remote', authority: 'localhost' };
  return { user, uri, typing, management: management.value, extensionHost: extensionHost.value, version: 1 };
}

const channels = () => editors.flatMap((e) => [e.management, e.extensionHost]);

async function open({ port, prefixed, users, tokens, typing, batch }) {
  closing = false;
  dropped = 0;
  editors = [];
  const errors = [];
  const t0 = nowMs();
  for (let i = 0; i < users.length; i += batch) {
    const settled = await Promise.allSettled(
      users.slice(i, i + batch).map((user, j) => openEditor({ port, prefixed, user, token: tokens[i + j], typing: i + j < typing })),
    );
    for (const s of settled) {
      if (s.status === 'fulfilled') editors.push(s.value);
      else errors.push(s.reason.message);
    }
  }
  const all = channels();
  return {
    editors: editors.length,
    sockets: all.length,
    failed_editors: errors.length,
    first_error: errors[0],
    deflate: all.filter((c) => c.deflate).length,
    no_context_takeover: all.filter((c) => c.noContext).length,
    open_ms: nowMs() - t0,
  };
}

function start() {
  running = true;
  for (const e of editors) {
    repeat(KEEPALIVE_MS, () => e.management.send(KEEPALIVE, 'keepalive'));
    repeat(KEEPALIVE_MS, () => e.extensionHost.send(KEEPALIVE, 'keepalive'));
    repeat(TELEMETRY_CYCLE_MS, () => {
      for (let k = 0; k < TELEMETRY_BURST; k++) later(k * TELEMETRY_GAP_MS, () => e.management.call('telemetry', 'ping', undefined, 'telemetry'));
    });
    if (!e.typing) continue;
    repeat(EDIT_MEAN_MS, () => e.extensionHost.send(REGULAR, 'edit', modelChange(e, ++e.extensionHost.request, ++e.version)), true);
    repeat(KEY_MEAN_MS, () => e.management.call('remoteterminal', '$input', [1, 'x'], 'terminal'), true);
  }
}

const bytes = () => channels().reduce((sum, c) => ({ out: sum.out + c.socket.bytesWritten, in: sum.in + c.socket.bytesRead }), { out: 0, in: 0 });

function measure() {
  const kinds = ['keepalive', 'telemetry', 'edit', 'terminal'];
  window = { at: nowMs(), sent: {}, samples: Object.fromEntries(kinds.map((k) => [k, []])), bytes: bytes(), dropped };
}

const rtt = (samples) => ({
  count: samples.length,
  p50_ms: percentile(samples, 50),
  p99_ms: percentile(samples, 99),
  // Not Math.max(...samples): a spread of ~100,000 samples can overflow the stack.
  max_ms: samples.reduce((a, b) => Math.max(a, b), -Infinity),
});

async function stop() {
  const w = window;
  window = undefined;
  stopTimers();
  const seconds = (nowMs() - w.at) / 1000;
  const wire = bytes();
  const inFlight = () => channels().reduce((n, c) => n + [...c.pending.values()].filter((p) => p.window === w).length, 0);
  for (let waited = 0; waited < 2000 && inFlight() > 0; waited += 50) await sleep(50);
  const s = w.samples;
  const expected = Object.entries(w.sent).reduce((n, [kind, count]) => n + (kind === 'ack' ? 0 : count), 0);
  const answered = Object.values(s).reduce((n, list) => n + list.length, 0);
  return {
    seconds,
    sent: w.sent,
    sent_per_s: Object.values(w.sent).reduce((a, b) => a + b, 0) / seconds,
    replies_expected: expected,
    answered,
    lost: inFlight(),
    dropped_sockets: dropped - w.dropped,
    bytes_out_per_s: (wire.out - w.bytes.out) / seconds,
    bytes_in_per_s: (wire.in - w.bytes.in) / seconds,
    rtt: {
      all: rtt(Object.values(s).flat()),
      keepalive: rtt(s.keepalive),
      typing: rtt([...s.edit, ...s.terminal]),
      edit: rtt(s.edit),
      terminal: rtt(s.terminal),
      telemetry: rtt(s.telemetry),
    },
  };
}

async function close() {
  closing = true;
  stopTimers();
  await Promise.all(
    channels().map(
      (c) =>
        new Promise((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => c.ws.terminate(), 3000);
          c.ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          c.ws.close();
        }),
    ),
  );
  editors = [];
}

process.on('message', async (message) => {
  if (message?.open) process.send({ opened: await open(message.open) });
  else if (message === 'start') {
    start();
    process.send({ started: true });
  } else if (message === 'measure') {
    measure();
    process.send({ measuring: true });
  } else if (message === 'stop') process.send({ stopped: await stop() });
  else if (message === 'close') {
    await close();
    process.send({ closed: true });
  }
});

process.send({ ready: true });
