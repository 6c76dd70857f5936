// The gateway as the bench runs it: its own process, built exactly like
// `npm start` builds it (loadConfig from GATEWAY_* variables, createApp), but
// with a runtime that points every workspace at the bench's backend.
//
// Env: BENCH_BACKEND_PORT (required), BENCH_KNOWN_WORKSPACES (default 10),
//      BENCH_USER (default bench), and any GATEWAY_* setting.
// Reports {ready, port, workspaces} over the IPC channel; exits when the
// parent goes away or on SIGTERM/SIGINT (so --cpu-prof writes its profile).
import { createLogger, loadConfig, serve } from './dist/gateway.js';
import { FixedRuntime } from './fixed-runtime.mjs';

const backendPort = Number(process.env.BENCH_BACKEND_PORT);
if (!backendPort) {
  console.error('gateway-entry: BENCH_BACKEND_PORT is required');
  process.exit(2);
}
const known = Number(process.env.BENCH_KNOWN_WORKSPACES ?? 10);
const benchUser = process.env.BENCH_USER ?? 'bench';
const users = [benchUser];
for (let i = 1; users.length < known; i++) users.push(`user${String(i).padStart(5, '0')}`);

const config = loadConfig({
  env: {
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_PORT: '0',
    GATEWAY_RUNTIME: 'process',
    GATEWAY_LOG_LEVEL: 'warn',
    GATEWAY_IDLE_TIMEOUT: '24h',
    // The load comes from one address and one user: the per-client caps would measure themselves.
    GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '0',
    GATEWAY_MAX_WEBSOCKETS_PER_USER: '0',
    ...process.env,
  },
});
// Logs go to stderr so stdout stays free; the parent keeps them in a file.
const logger = createLogger(config.log_level, process.stderr);
// With GATEWAY_WORKERS > 1, as in main.js: this process leads, its forks (this file again) proxy.
const { app, port, close } = await serve(config, logger, async () => new FixedRuntime({ host: '127.0.0.1', port: backendPort }, users));
// A cluster worker serves until its leader disconnects it.
if (!app) await new Promise(() => {});
// listen() starts a reconcile in the background; one more makes sure every record is loaded before load starts.
await app.manager.reconcile();
const loaded = [...app.manager.all()].filter((ws) => ws.state === 'running').length;

const shutdown = () => close().finally(() => process.exit(0));
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
process.once('disconnect', () => process.exit(0));
process.on('message', async (message) => {
  if (message === 'gc' && typeof globalThis.gc === 'function') {
    globalThis.gc();
    process.send?.('gc-done');
  }
  // What the RSS is made of (V8 heap, buffers, the rest), after a full GC.
  if (message === 'memory' && typeof globalThis.gc === 'function') {
    globalThis.gc();
    process.send?.({ memory: process.memoryUsage(), spaces: (await import('node:v8')).getHeapSpaceStatistics() });
  }
});
process.send?.({ ready: true, port, workspaces: loaded, pid: process.pid });
