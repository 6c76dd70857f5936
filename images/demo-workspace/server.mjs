// The demo workspace: a tiny stand-in for code-server, used by `npm run demo`
// (process runtime), by the test image and by the benchmark. It answers HTTP,
// echoes WebSocket messages, and reports what it received so tests can see
// what the gateway forwarded. Only Node built-ins and `ws`.
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '0.0.0.0';
const user = process.env.WORKSPACE_USER ?? 'unknown';
const dir = process.env.WORKSPACE_DIR ?? join(process.env.HOME ?? '/home/coder', 'project');
const kib = Buffer.alloc(1024, 'x');
const mib = Buffer.alloc(1024 * 1024, 'y');

const safeName = (name) => (/^[A-Za-z0-9_.-]{1,100}$/.test(name ?? '') && !name.startsWith('.') ? name : null);

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * A hostile workspace, scripted by the request (`/__raw`, plain or upgrade):
 * `plan` is base64url JSON {"pieces": [piece, …], "gapMs": n, "after": "close" | "reset" | "hold" | "keep"}.
 * A piece is base64, or [base64, times] for those bytes repeated, so an answer
 * can be larger than the URL that carries it (up to RAW_MAX_BYTES in all).
 */
function rawPlanOf(url) {
  try {
    return JSON.parse(Buffer.from(url.searchParams.get('plan') ?? '', 'base64url').toString());
  } catch {
    return undefined;
  }
}

const RAW_MAX_BYTES = 4 * 1024 * 1024;

function rawPieces(plan) {
  let total = 0;
  return (plan.pieces ?? []).map((piece) => {
    const [b64, times] = Array.isArray(piece) ? piece : [piece, 1];
    const one = Buffer.from(String(b64), 'base64');
    const n = Math.max(0, Math.min(Number(times) || 0, Math.floor((RAW_MAX_BYTES - total) / Math.max(1, one.length))));
    total += one.length * n;
    return Buffer.concat(Array.from({ length: n }, () => one));
  });
}

/**
 * The pieces go out on the socket as they are (any bytes, any framing), gapMs
 * apart; then the connection is closed, reset, held open, or kept alive with
 * its answer never finished.
 */
function playRaw(socket, plan) {
  const pieces = rawPieces(plan);
  const gap = Math.min(Number(plan.gapMs ?? 0), 1000);
  const next = (i) => {
    if (socket.destroyed) return;
    if (i < pieces.length) {
      socket.write(pieces[i]);
      return void (gap > 0 ? setTimeout(next, gap, i + 1) : next(i + 1));
    }
    if (plan.after === 'reset') socket.resetAndDestroy();
    else if (plan.after === 'close') socket.end();
    else if (plan.after === 'hold') setTimeout(() => socket.destroy(), 60_000).unref();
    // 'keep': the connection stays as it is; Node answers nothing more on it.
  };
  next(0);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://workspace');
  switch (url.pathname) {
    case '/__echo': {
      const body = await readBody(req);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ user, method: req.method, url: req.url, headers: req.headers, bodyLength: body.length }));
      return;
    }
    case '/__bytes': {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(url.searchParams.get('size') === '1m' ? mib : kib);
      return;
    }
    case '/__slow':
      setTimeout(() => res.end('slow'), Number(url.searchParams.get('ms') ?? 1000));
      return;
    case '/__reset':
      // Headers and half a body, then a reset: the gateway must not crash.
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => req.socket.destroy(), 20);
      return;
    case '/__raw': {
      const plan = rawPlanOf(url);
      if (!plan) return void res.writeHead(400).end('bad plan');
      return void playRaw(req.socket, plan);
    }
    case '/__env':
      // What a workspace process can read of its environment (the gateway's secrets must not be there).
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(process.env));
      return;
    case '/__memhog': {
      // Allocates until the engine's memory limit kills the workspace (OOM tests).
      const hog = [];
      res.writeHead(202).end('allocating');
      setInterval(() => hog.push(Buffer.alloc(8 * 1024 * 1024, 1)), 10);
      return;
    }
    case '/__file': {
      const name = safeName(url.searchParams.get('name'));
      if (!name) return void res.writeHead(400).end('bad name');
      const path = join(dir, name);
      try {
        if (req.method === 'PUT' || req.method === 'POST') {
          mkdirSync(dir, { recursive: true });
          writeFileSync(path, await readBody(req));
          return void res.writeHead(201).end('written');
        }
        return void res.end(readFileSync(path));
      } catch (err) {
        return void res.writeHead(err.code === 'ENOENT' ? 404 : 500).end(String(err.code ?? err));
      }
    }
    default:
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(
        `<!doctype html><html><head><title>Workspace of ${user}</title></head><body><h1 id="workspace">Workspace of ${user}</h1><p>Demo workspace: path ${req.url.replace(/[<&>"]/g, '')}</p></body></html>`,
      );
  }
});

// WebSocket: echo every message back. `?talk=ms` makes the workspace send a
// message of its own every ms (the server talking while the client is idle).
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://workspace');
  if (url.pathname === '/__raw') {
    // The HTTP server no longer watches an upgraded socket: a reset by the gateway must not end the workspace.
    socket.on('error', () => {});
    const plan = rawPlanOf(url);
    return plan ? playRaw(socket, plan) : socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 8\r\n\r\nbad plan');
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const talk = Number(url.searchParams.get('talk') ?? 0);
    const timer = talk > 0 ? setInterval(() => ws.send('tick'), talk) : undefined;
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', () => clearInterval(timer));
    ws.on('error', () => clearInterval(timer));
  });
});

server.keepAliveTimeout = 65_000;
// START_DELAY_MS plays an editor that takes a while to boot (code-server takes seconds).
setTimeout(
  () => server.listen(port, host, () => console.log(`demo workspace of ${user} listening on ${host}:${port}`)),
  Number(process.env.START_DELAY_MS ?? 0),
);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
