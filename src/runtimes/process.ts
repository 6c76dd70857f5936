import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, on } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { SpawnFailedError } from '../errors.js';
import { packFolder, unpackInto } from './archive.js';
import type { ProgressListener, Runtime, RuntimeEvent, WorkspaceInfo } from './runtime.js';

/** The demo workspace shipped in images/, the same server the test image runs. */
const DEMO_SERVER = fileURLToPath(new URL('../../images/demo-workspace/server.mjs', import.meta.url));
export const DEMO_COMMAND = `"${process.execPath}" "${DEMO_SERVER}"`;

export interface ProcessRuntimeSettings {
  process_command?: string;
  data_root: string;
}

interface Child {
  process: ChildProcess;
  port: number;
  home: string;
  startedAt: Date;
  /** Set when the gateway asked it to stop, so the exit is not read as a crash. */
  stopping: boolean;
  exited: Promise<void>;
}

/**
 * Workspaces as local child processes on loopback ports, one folder per user
 * under `data_root`. Nothing is isolated: for trying the gateway without an
 * engine, and a fast real-socket double in tests. Children end with the gateway.
 */
export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  readonly isolated = false;
  private readonly children = new Map<string, Child>();
  /** Users whose last process died by itself, with why. */
  private readonly failures = new Map<string, { reason: string; at: Date }>();
  private readonly emitter = new EventEmitter();
  private readonly command: string;
  private readonly root: string;

  constructor(settings: ProcessRuntimeSettings, private readonly logger: Logger) {
    this.command = settings.process_command ?? DEMO_COMMAND;
    this.root = resolve(settings.data_root);
  }

  async start(user: string, onProgress?: ProgressListener): Promise<WorkspaceInfo> {
    const running = this.children.get(user);
    if (running && !running.stopping) return this.info(user, running);
    if (running) await running.exited;
    onProgress?.({ phase: 'creating', message: 'Preparing your folder' });
    const home = resolve(this.root, user);
    await mkdir(home, { recursive: true });
    const port = await freePort();
    onProgress?.({ phase: 'starting', message: 'Starting the workspace process' });
    // The user id is validated against USER_ID before it gets here, so it is safe in a shell line.
    const line = this.command.replaceAll('{port}', String(port)).replaceAll('{user}', user).replaceAll('{home}', home);
    const child = spawn(line, {
      shell: true,
      cwd: home,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: workspaceEnvironment({ PORT: String(port), HOST: '127.0.0.1', WORKSPACE_USER: user, HOME: home, WORKSPACE_DIR: home }),
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    const entry: Child = {
      process: child,
      port,
      home,
      startedAt: new Date(),
      stopping: false,
      exited: new Promise((done) => child.once('exit', () => done())),
    };
    this.children.set(user, entry);
    this.failures.delete(user);
    child.once('exit', (code, signal) => {
      if (this.children.get(user) === entry) this.children.delete(user);
      if (entry.stopping) {
        this.emitter.emit('event', { user, id: String(child.pid), kind: 'stopped' } satisfies RuntimeEvent);
        return;
      }
      const reason = signal ? `killed by ${signal}` : `exited with code ${code}`;
      this.failures.set(user, { reason: stderr ? `${reason}: ${stderr.trim().split('\n').pop()}` : reason, at: new Date() });
      this.logger.warn({ user, code, signal }, 'workspace process exited');
      this.emitter.emit('event', { user, id: String(child.pid), kind: 'died', reason } satisfies RuntimeEvent);
    });
    await new Promise<void>((ok, fail) => {
      child.once('spawn', ok);
      child.once('error', (err) => fail(new SpawnFailedError('the workspace process could not be started; tell staff.', err.message)));
    });
    return this.info(user, entry);
  }

  async inspect(user: string): Promise<WorkspaceInfo> {
    const child = this.children.get(user);
    if (child) return this.info(user, child);
    const failure = this.failures.get(user);
    if (failure) return { user, state: 'error', reason: failure.reason, finishedAt: failure.at, image: this.command };
    return { user, state: 'absent' };
  }

  async stop(user: string): Promise<void> {
    const child = this.children.get(user);
    if (!child) return;
    child.stopping = true;
    signalGroup(child.process, 'SIGTERM');
    const killer = setTimeout(() => signalGroup(child.process, 'SIGKILL'), 5000);
    await child.exited;
    clearTimeout(killer);
  }

  async remove(user: string, options: { volume?: boolean } = {}): Promise<void> {
    await this.stop(user);
    this.failures.delete(user);
    if (options.volume) await rm(resolve(this.root, user), { recursive: true, force: true });
  }

  /** Works while the process runs too: the files are read as they are, like a container's. */
  backup(user: string): Promise<Readable> {
    return packFolder(resolve(this.root, user));
  }

  /** Files end up owned by the gateway's user, the one the workspace processes run as. */
  restore(user: string, archive: Readable): Promise<void> {
    return unpackInto(resolve(this.root, user), archive, this.logger.child({ user }));
  }

  async list(): Promise<WorkspaceInfo[]> {
    const users = new Set([...this.children.keys(), ...this.failures.keys()]);
    return Promise.all([...users].map((user) => this.inspect(user)));
  }

  async ping(): Promise<void> {}

  async *events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    try {
      for await (const [event] of on(this.emitter, 'event', { signal })) yield event as RuntimeEvent;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.children.keys()].map((user) => this.stop(user)));
  }

  private info(user: string, child: Child): WorkspaceInfo {
    return {
      user,
      state: 'running',
      id: String(child.process.pid),
      image: this.command,
      startedAt: child.startedAt,
      endpoint: { host: '127.0.0.1', port: child.port },
    };
  }
}

/** What a workspace process may see of the gateway's environment: how to find programs, the locale and the time zone. */
const INHERITED = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const;

/**
 * A workspace's whole environment. Never the gateway's own: it holds
 * GATEWAY_JWT_SECRET (with it, code in any workspace could sign a token for
 * any user or an admin) and whatever else the operator set for the gateway.
 */
export function workspaceEnvironment(own: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...own };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // Negative pid: the whole group, so a shell wrapper does not leave the server behind.
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? ok(address.port) : fail(new Error('no port'))));
    });
  });
}
