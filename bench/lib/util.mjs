// Small helpers shared by the benchmark: timing, free ports, child processes
// that are always cleaned up, percentiles and plain-text tables.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

// The gateway's own (the bench runs after `npm run build`).
export { freePort } from '../dist/gateway.js';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ---------------------------------------------------------------------------
// Children: every process the bench starts is registered here and killed on
// exit, SIGINT/SIGTERM, an uncaught error or the global deadline.

const children = new Set();
const exitHooks = [];

export function spawnChild(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  return child;
}

/** Stops one child: SIGTERM, then SIGKILL after `graceMs`. Resolves when it is gone. */
export function stopChild(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {}
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      child.kill('SIGTERM');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

const stateOf = (pid) => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
  } catch {
    return 'gone';
  }
};

/**
 * Synchronous last-resort cleanup (runs in process 'exit'): SIGTERM so that
 * e.g. nginx's master stops its workers itself, up to a second for them to
 * go, then SIGKILL for whatever is left.
 */
function killAllSync() {
  const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  for (const child of alive) {
    try {
      child.kill('SIGTERM');
    } catch {}
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < 1000; waited += 50) {
    if (alive.every((c) => ['Z', 'X', 'gone'].includes(stateOf(c.pid)))) break;
    Atomics.wait(pause, 0, 0, 50);
  }
  for (const child of alive) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
  children.clear();
}

/** Registers a synchronous function that must run however the bench ends (e.g. engine cleanup). */
export function onExit(fn) {
  exitHooks.push(fn);
}

let exiting = false;
function runExitHooks() {
  if (exiting) return;
  exiting = true;
  killAllSync();
  for (const fn of exitHooks.splice(0)) {
    try {
      fn();
    } catch (err) {
      process.stderr.write(`bench: cleanup step failed: ${err.message}\n`);
    }
  }
}

export function installExitHandlers(maxSeconds) {
  process.on('exit', runExitHooks);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping everything it started\n`);
      runExitHooks();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`);
    runExitHooks();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`bench: unhandled rejection: ${err?.stack ?? err}\n`);
    runExitHooks();
    process.exit(1);
  });
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: hard deadline of ${maxSeconds} s reached, stopping\n`);
    runExitHooks();
    process.exit(1);
  }, maxSeconds * 1000);
  deadline.unref();
}

/** Resolves when `child` prints a line matching `pattern` on stdout/stderr, or rejects after `ms`. */
export function waitForOutput(child, pattern, ms, what) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk) => {
      seen += chunk;
      if (seen.length > 65536) seen = seen.slice(-32768);
      const match = pattern.exec(seen);
      if (match) finish(null, match);
    };
    const onExitEarly = (code, signal) => finish(new Error(`${what} exited early (code ${code}, signal ${signal}):\n${seen.slice(-2000)}`));
    const timer = setTimeout(() => finish(new Error(`${what} did not start within ${ms} ms:\n${seen.slice(-2000)}`)), ms);
    function finish(err, match) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExitEarly);
      if (err) reject(err);
      else resolve(match);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExitEarly);
  });
}

/** Resolves once a TCP connection to host:port succeeds (or rejects after `ms`). */
export async function waitForPort(port, ms, what, host = '127.0.0.1') {
  const { connect } = await import('node:net');
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on ${host}:${port} within ${ms} ms`);
}

/** Runs a command to completion with a timeout; resolves { code, stdout, stderr }. */
export function run(command, args, { timeoutMs = 60_000, ...options } = {}) {
  return new Promise((resolve) => {
    const child = spawnChild(command, args, options);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c) => (stdout += c));
    child.stderr?.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(err.message) });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? -1 : 0), signal, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------
// Statistics and formatting.

/** Nearest-rank percentile of an array of numbers (p in 0..100). */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export const median = (values) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export function fmt(value, digits = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return '–';
  if (!Number.isFinite(value)) return '∞';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const ratio = (a, b, digits = 2) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${fmt(a / b, digits)}×` : '–');

/** A plain aligned text table: first column left-aligned, the others right-aligned. */
export function table(header, rows, { leftColumns = 1 } = {}) {
  const all = [header, ...rows].map((row) => row.map((cell) => String(cell ?? '')));
  const widths = header.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? '')].length)));
  const pad = (cell, i) => {
    const gap = ' '.repeat(Math.max(0, widths[i] - [...cell].length));
    return i < leftColumns ? cell + gap : gap + cell;
  };
  const lines = all.map((row) => row.map(pad).join('  ').trimEnd());
  lines.splice(
    1,
    0,
    widths
      .map((w) => '-'.repeat(w))
      .join('  ')
      .trimEnd(),
  );
  return lines.join('\n');
}

/** Sends `message` (unless undefined) to `child` and resolves with `key` of the first answer that has it. */
export function ask(child, message, key, ms = 60_000) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m?.[key] !== undefined) finish(null, m[key]);
    };
    const onExit = (code) => finish(new Error(`${child.spawnargs.at(-1)} exited (code ${code}) before it answered '${key}'`));
    const timer = setTimeout(() => finish(new Error(`${child.spawnargs.at(-1)} did not answer '${key}' within ${ms / 1000} s`)), ms);
    function finish(err, value) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (message !== undefined) child.send(message);
  });
}
