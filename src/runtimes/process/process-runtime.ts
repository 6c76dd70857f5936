import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ProcessSettings } from '../../config/settings.js';
import { SpawnFailedError } from '../../errors.js';
import { packageFile } from '../../package-root.js';
import { unlessAborted } from '../cancellable.js';
import { EventChannel } from '../event-channel.js';
import type { Runtime, RuntimeEvent, StartOptions, WorkspaceInfo } from '../runtime.js';
import { FolderStorage } from './folder-storage.js';
import { freePort } from './free-port.js';
import { workspaceEnvironment } from './workspace-environment.js';

/** The demo workspace shipped in images/, the same server the test image runs. */
const DEMO_SERVER = packageFile('images/demo-workspace/server.mjs');
const DEMO_COMMAND = `"${process.execPath}" "${DEMO_SERVER}"`;
/** Grace a workspace process gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5000;

export interface ProcessRuntimeOptions {
  settings: ProcessSettings;
  logger: Logger;
}

interface Child {
  process: ChildProcess;
  port: number;
  startedAt: Date;
  /** Set when the gateway asked it to stop, so the exit is not read as a crash. */
  stopping: boolean;
  exited: Promise<void>;
}

/**
 * Workspaces as local child processes on loopback ports, one folder per user
 * under `data_root`. Nothing is isolated: for trying the gateway without an
 * engine, and a fast real-socket double in tests. Children end with the
 * gateway, so a new runtime object starts with none. The instance id is the
 * pid: a new one on every start.
 */
export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  readonly storage: FolderStorage;
  private readonly children = new Map<string, Child>();
  /** Users whose last process died by itself, with why. */
  private readonly failures = new Map<string, { reason: string; at: Date }>();
  /** Users whose process was stopped (their folder stays), with when: listed as stopped, not as gone. */
  private readonly stoppedAt = new Map<string, Date>();
  /** Starts in flight, so concurrent calls for one user give one process. */
  private readonly launching = new Map<string, Promise<WorkspaceInfo>>();
  private readonly channel = new EventChannel<RuntimeEvent>();
  private readonly command: string;
  private readonly root: string;
  private readonly logger: Logger;

  constructor({ settings, logger }: ProcessRuntimeOptions) {
    this.command = settings.process_command ?? DEMO_COMMAND;
    this.root = resolve(settings.data_root);
    this.logger = logger;
    this.storage = new FolderStorage(this.root, logger);
  }

  async prepare(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async start(user: string, { signal, onProgress }: StartOptions = {}): Promise<WorkspaceInfo> {
    const running = this.children.get(user);
    if (running && !running.stopping) return this.info(user, running);
    signal?.throwIfAborted();
    let launch = this.launching.get(user);
    if (!launch) {
      launch = this.launch(user, running, onProgress).finally(() => this.launching.delete(user));
      this.launching.set(user, launch);
    }
    try {
      return await unlessAborted(launch, signal);
    } catch (err) {
      // Given up: the child, if it got going, goes too.
      if (signal?.aborted)
        await launch.then(
          () => this.stop(user),
          () => undefined,
        );
      throw err;
    }
  }

  async inspect(user: string): Promise<WorkspaceInfo> {
    const child = this.children.get(user);
    if (child) return this.info(user, child);
    const failure = this.failures.get(user);
    if (failure) return { user, state: 'error', reason: failure.reason, finishedAt: failure.at, image: this.command };
    const stopped = this.stoppedAt.get(user);
    if (stopped) return { user, state: 'stopped', finishedAt: stopped, image: this.command };
    return { user, state: 'absent' };
  }

  async stop(user: string): Promise<void> {
    const child = this.children.get(user);
    if (!child) return;
    child.stopping = true;
    signalGroup(child.process, 'SIGTERM');
    const killer = setTimeout(() => signalGroup(child.process, 'SIGKILL'), STOP_GRACE_MS);
    await child.exited;
    clearTimeout(killer);
  }

  async remove(user: string, options: { volume?: boolean } = {}): Promise<void> {
    await this.stop(user);
    this.failures.delete(user);
    this.stoppedAt.delete(user);
    if (options.volume) await rm(this.storage.folder(user), { recursive: true, force: true });
  }

  async list(): Promise<WorkspaceInfo[]> {
    const users = new Set([...this.children.keys(), ...this.failures.keys(), ...this.stoppedAt.keys()]);
    return Promise.all([...users].map((user) => this.inspect(user)));
  }

  events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    return this.channel.stream(signal);
  }

  async close(): Promise<void> {
    await Promise.all([...this.children.keys()].map((user) => this.stop(user)));
  }

  private async launch(user: string, previous: Child | undefined, onProgress: StartOptions['onProgress']): Promise<WorkspaceInfo> {
    if (previous) await previous.exited;
    onProgress?.({ phase: 'creating', detail: 'Preparing your folder' });
    const home = this.storage.folder(user);
    await mkdir(home, { recursive: true });
    const port = await freePort();
    onProgress?.({ phase: 'starting', detail: 'Starting the workspace process' });
    const entry = this.spawnChild(user, home, port);
    await entry.spawned;
    return this.info(user, entry);
  }

  private spawnChild(user: string, home: string, port: number): Child & { spawned: Promise<void> } {
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
    const entry = {
      process: child,
      port,
      startedAt: new Date(),
      stopping: false,
      exited: new Promise<void>((done) => child.once('exit', () => done())),
      spawned: new Promise<void>((ok, fail) => {
        child.once('spawn', ok);
        child.once('error', (err) => fail(new SpawnFailedError('the workspace process could not be started; tell staff.', err.message)));
      }),
    };
    this.children.set(user, entry);
    this.failures.delete(user);
    this.stoppedAt.delete(user);
    child.once('exit', (code, signal) => {
      if (this.children.get(user) === entry) this.children.delete(user);
      const id = String(child.pid);
      if (entry.stopping) {
        this.stoppedAt.set(user, new Date());
        return this.channel.emit({ user, id, kind: 'stopped' });
      }
      const reason = signal ? `killed by ${signal}` : `exited with code ${code}`;
      // The program's last line on stderr helps its owner; it is the workspace's output, not the gateway's.
      const lastLine = stderr.trim().split('\n').pop();
      this.failures.set(user, { reason: lastLine ? `${reason}: ${lastLine}` : reason, at: new Date() });
      this.logger.warn({ user, code, signal }, 'workspace process exited');
      this.channel.emit({ user, id, kind: 'died', reason });
    });
    return entry;
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

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // Negative pid: the whole group, so a shell wrapper does not leave the server behind.
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}
