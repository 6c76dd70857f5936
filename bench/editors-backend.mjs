// The far end of the bench's editors part (bench/lib/editors.mjs): a stand-in
// for code-server's WebSocket server. It accepts permessage-deflate as
// code-server does (and compresses everything it sends, with context
// takeover: `ws`'s defaults, threshold 0), reads every message as a VS Code
// protocol message (13-byte header: type, id, ack, data length) and answers
// at once, so the client can time a round trip on every message kind:
//
//   - KeepAlive (type 9) → a KeepAlive, its ack field the client's id;
//   - Regular (type 1) → a Regular reply (`[201,id,…]`, ~20 bytes; a
//     terminal keystroke's: the echo of the key, ~60 bytes), ack = the client's id;
//   - Ack (type 3) → nothing.
//
// Env: PORT, HOST (127.0.0.1). Over IPC: 'stats' → {stats: {...}} (open
// sockets, how many negotiated compression, the first offer and answer it
// saw, messages received), 'reset' clears the counters, 'gc' → {gc: true} after a full GC
// (run with --expose-gc). Exits when the bench goes away.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

process.once('disconnect', () => process.exit(0));

const port = Number(process.env.PORT);
const host = process.env.HOST ?? '127.0.0.1';
const HEADER = 13;
const REGULAR = 1;
const KEEPALIVE = 9;
const TERMINAL_INPUT_BYTES = 51;

let stats;
const reset = () => {
  stats = { received: 0, offer: undefined, answer: undefined };
};
reset();

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('editors backend\n');
});
const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 }, maxPayload: 1 << 20 });

wss.on('headers', (headers) => {
  const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  if (line) stats.answer ??= line.replace(/^[^:]*:\s*/, '');
});

wss.on('connection', (ws, req) => {
  stats.offer ??= req.headers['sec-websocket-extensions'];
  let nextId = 1;
  const send = (type, ack, body) => {
    const m = Buffer.allocUnsafe(HEADER + body.length);
    m[0] = type;
    m.writeUInt32BE(type === REGULAR ? nextId++ : 0, 1);
    m.writeUInt32BE(ack, 5);
    m.writeUInt32BE(body.length, 9);
    body.copy(m, HEADER);
    ws.send(m);
  };
  ws.on('message', (data, isBinary) => {
    if (!isBinary || !Buffer.isBuffer(data) || data.length < HEADER) return;
    stats.received++;
    const type = data[0];
    const id = data.readUInt32BE(1);
    if (type === KEEPALIVE) send(KEEPALIVE, id, Buffer.alloc(0));
    else if (type === REGULAR) {
      const body =
        data.length === TERMINAL_INPUT_BYTES
          ? `[1,"remoteterminal","$onProcessData",{"id":1,"event":"${String.fromCharCode(97 + (id % 26))}"}]`
          : `[201,${id},{"ok":true}]`;
      send(REGULAR, id, Buffer.from(body));
    }
  });
  ws.on('error', () => {});
});

process.on('message', (message) => {
  if (message === 'reset') {
    reset();
    process.send?.({ reset: true });
  }
  if (message === 'gc' && typeof globalThis.gc === 'function') {
    globalThis.gc();
    process.send?.({ gc: true });
  }
  if (message === 'stats') {
    let open = 0;
    let deflateOpen = 0;
    for (const ws of wss.clients) {
      open++;
      if (ws.extensions.includes('permessage-deflate')) deflateOpen++;
    }
    process.send?.({ stats: { ...stats, open, deflate_open: deflateOpen } });
  }
});

server.listen(port, host, () => process.send?.({ ready: true, port }));
