// The demo workspace (images/demo-workspace/server.mjs, unchanged, for every
// user), plus the hostile answers its `/__raw` cannot script:
//  - an upgrade to `/__raw?plan=…` is answered with the plan's bytes (the demo
//    hands every upgrade to its WebSocket server, which accepts);
//  - a plan piece may be `[base64, times]`: the piece repeated, so an answer
//    can be larger than the request URL that carries it (huge heads).
// Plans without repeats, on plain HTTP, are left to the demo's own `/__raw`.
// Used as GATEWAY_PROCESS_COMMAND by the fuzz tests; the gateway runs it like the demo.
import http from 'node:http';

const DEMO = new URL('../../images/demo-workspace/server.mjs', import.meta.url);
const MAX_BYTES = 4 * 1024 * 1024;

function planOf(url) {
  const parsed = new URL(url ?? '/', 'http://workspace');
  if (parsed.pathname !== '/__raw') return undefined;
  try {
    return JSON.parse(Buffer.from(parsed.searchParams.get('plan') ?? '', 'base64url').toString());
  } catch {
    return undefined;
  }
}

const hasRepeats = (plan) => Array.isArray(plan?.pieces) && plan.pieces.some((p) => Array.isArray(p));

function piecesOf(plan) {
  let total = 0;
  return (plan.pieces ?? []).map((p) => {
    const [b64, times] = Array.isArray(p) ? p : [p, 1];
    const one = Buffer.from(String(b64), 'base64');
    const n = Math.max(0, Math.min(Number(times) || 0, Math.floor((MAX_BYTES - total) / Math.max(1, one.length))));
    total += one.length * n;
    return Buffer.concat(Array.from({ length: n }, () => one));
  });
}

/** As the demo's `/__raw`: pieces gapMs apart, then close, reset, hold or keep. */
function play(socket, plan) {
  const pieces = piecesOf(plan);
  const gap = Math.min(Number(plan.gapMs ?? 0), 1000);
  socket.on('error', () => {});
  const next = (i) => {
    if (socket.destroyed) return;
    if (i < pieces.length) {
      socket.write(pieces[i]);
      return void (gap > 0 ? setTimeout(next, gap, i + 1) : next(i + 1));
    }
    if (plan.after === 'reset') socket.resetAndDestroy();
    else if (plan.after === 'close') socket.end();
    else if (plan.after === 'hold') setTimeout(() => socket.destroy(), 60_000).unref();
  };
  next(0);
}

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event === 'upgrade' || event === 'request') {
    const [req] = args;
    const plan = planOf(req.url);
    if (plan && (event === 'upgrade' || hasRepeats(plan))) {
      play(req.socket, plan);
      return true;
    }
  }
  return emit.call(this, event, ...args);
};

await import(DEMO.href);
