/**
 * Starts a real gateway (real server, real sockets) inside the test process,
 * configured the way an operator would: through GATEWAY_* variables.
 */
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import pino, { type Logger } from 'pino';
import WebSocket from 'ws';
import { createApp, type App } from '../../src/app.js';
import { createRuntime } from '../../src/runtimes/create.js';
import { loadConfig } from '../../src/config/load.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { FakeRuntime } from './fake-runtime.js';

export const SECRET = 'test-secret-0123456789-abcdefghij';

export interface TestGateway {
  app: App;
  /** http://127.0.0.1:<port> */
  url: string;
  wsUrl: string;
  /** The port it listens on, for raw clients. */
  port: number;
  close(): Promise<void>;
}

export async function startGateway(env: Record<string, string> = {}, runtime?: Runtime, logger?: Logger): Promise<TestGateway> {
  const config = loadConfig({
    env: {
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: '0',
      GATEWAY_JWT_SECRET: SECRET,
      GATEWAY_RUNTIME: 'process',
      GATEWAY_DATA_ROOT: mkdtempSync(join(tmpdir(), 'wg-data-')),
      GATEWAY_STATE_DIR: mkdtempSync(join(tmpdir(), 'wg-state-')),
      GATEWAY_SPAWN_TIMEOUT: '20s',
      ...env,
    },
  });
  const log = logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const app = createApp({ config, logger: log, runtime: runtime ?? (await createRuntime(config, log)) });
  const address = await app.listen();
  return {
    app,
    url: `http://127.0.0.1:${address.port}`,
    wsUrl: `ws://127.0.0.1:${address.port}`,
    port: address.port,
    close: () => app.close(),
  };
}

export interface FrontedGateway extends TestGateway {
  /** Where the workspaces "run": every one at the test's server; its counters say what reached the engine. */
  runtime: FakeRuntime;
}

/**
 * A gateway in front of a test's own server (a stand-in workspace), where
 * `users`' workspaces already run (as after a restart). Given the server
 * itself, not yet listening, it listens on a loopback port, and close()
 * closes it after the gateway, ending whatever connections it still has.
 */
export async function gatewayInFrontOf(backend: number | Server, users: string | string[], env: Record<string, string> = {}): Promise<FrontedGateway> {
  const server = typeof backend === 'number' ? undefined : await listenOnLoopback(backend);
  const runtime = new FakeRuntime({ host: '127.0.0.1', port: server?.port ?? (backend as number) });
  for (const user of typeof users === 'string' ? [users] : users)
    runtime.workspaces.set(user, { user, state: 'running', id: `id-${user}`, endpoint: runtime.endpoint });
  const gw = await startGateway(env, runtime);
  await gw.app.manager.reconcile();
  return {
    ...gw,
    runtime,
    close: async () => {
      await gw.close();
      await server?.close();
    },
  };
}

async function listenOnLoopback(server: Server): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((closed) => {
        server.close(() => closed());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

export interface TokenOptions {
  secret?: string;
  expiresIn?: string | number;
  claims?: Record<string, unknown>;
}

export function token(user: string | number, { secret = SECRET, expiresIn = '1h', claims = {} }: TokenOptions = {}): Promise<string> {
  return new SignJWT({ user_id: user, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

/** Headers of a browser page load with the auth cookie. */
export function pageLoad(jwt: string, extra: Record<string, string> = {}): Record<string, string> {
  return { cookie: `workspace_token=${jwt}`, accept: 'text/html', 'sec-fetch-mode': 'navigate', ...extra };
}

/** Headers of a script request (fetch/XHR) with the auth cookie: may not wake a workspace. */
export function scriptRequest(jwt: string, extra: Record<string, string> = {}): Record<string, string> {
  return { cookie: `workspace_token=${jwt}`, accept: 'application/json', 'sec-fetch-mode': 'cors', ...extra };
}

export interface WsResult {
  socket?: WebSocket;
  status?: number;
  body?: string;
  headers?: Record<string, string | string[] | undefined>;
}

/** Opens a WebSocket; resolves with the open socket, or with the refusal's status and body. */
export function openWebSocket(url: string, headers: Record<string, string>): Promise<WsResult> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, maxPayload: 64 * 1024 * 1024 });
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
      res.on('error', () => resolve({ status: res.statusCode, body, headers: res.headers }));
    });
    socket.once('error', (err) => reject(err));
  });
}

/** Sends one message and resolves with the first message back. */
export function roundTrip(socket: WebSocket, data: string | Buffer): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    socket.once('message', (message, binary) => resolve({ data: message as Buffer, binary }));
    socket.once('error', reject);
    socket.send(data);
  });
}
