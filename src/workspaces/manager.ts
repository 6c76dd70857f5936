import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { CapacityError, GatewayError, SpawnFailedError, SpawnTimeoutError, WorkspaceNotRunningError } from '../errors.js';
import type { Endpoint, Runtime, RuntimeEvent, SpawnProgress, WorkspaceInfo, WorkspaceState } from '../runtimes/runtime.js';
import { waitUntilAnswering } from './readiness.js';
import { SpawnQueue } from './spawn-queue.js';

/** What the gateway knows about one user's workspace. */
export interface Workspace {
  user: string;
  state: WorkspaceState;
  /**
   * False when the state is a guess (never read from the engine, or the editor
   * stopped answering): the next request asks the engine before trusting it.
   */
  confirmed: boolean;
  id?: string;
  endpoint?: Endpoint;
  startedAt?: Date;
  /** Epoch ms of the student's last request or WebSocket data frame. */
  lastActivity?: number;
  lastActivityKind?: string;
  /** Epoch ms since when it is not running (for the removal age). */
  stoppedAt?: number;
  /** Why it last stopped or failed: `idle`, `api`, `exited with code 137`, … */
  reason?: string;
  /** Latest spawn progress, while a spawn is in flight. */
  progress?: SpawnProgress;
  /** Why the gateway is stopping it right now; the engine's own stop event then carries this reason. */
  stopping?: string;
  /** The one spawn or wake in flight; every concurrent request awaits it. */
  pending?: Promise<Endpoint>;
}

export interface WorkspaceManagerOptions {
  runtime: Runtime;
  spawnTimeoutMs: number;
  maxRunning: number;
  maxConcurrentSpawns: number;
  /** When full, stop the least recently active workspace idle this long (unset: never). */
  evictIdleAfterMs?: number;
  logger: Logger;
  /** Hooks for metrics; kept as callbacks so this module does not know Prometheus. */
  onSpawn?: (outcome: 'ok' | 'failed', seconds: number) => void;
}

export interface EnsureOptions {
  /** Only page loads and explicit starts may start a stopped workspace (SPEC §3). */
  wake: boolean;
}

/**
 * The lifecycle of every workspace: spawn or wake once per user however many
 * requests arrive together, in arrival order under the concurrency limit, and
 * keep a picture of each workspace that the engine's own events keep true.
 *
 * Emits `stopping` (user, reason) before the gateway stops a workspace and
 * `down` (user, reason, endpoint) when one stopped running, so open WebSockets can be
 * closed; `progress` (user, progress) while a spawn moves on.
 */
export class WorkspaceManager extends EventEmitter {
  private readonly workspaces = new Map<string, Workspace>();
  private readonly queue: SpawnQueue;
  private readonly runtime: Runtime;
  private readonly logger: Logger;

  constructor(private readonly options: WorkspaceManagerOptions) {
    super();
    // Every open starting page listens for progress.
    this.setMaxListeners(0);
    this.runtime = options.runtime;
    this.logger = options.logger;
    this.queue = new SpawnQueue(options.maxConcurrentSpawns);
  }

  /** Hot path: where a running workspace listens, without touching the engine. */
  endpointOf(user: string): Endpoint | undefined {
    const ws = this.workspaces.get(user);
    // A workspace being stopped takes no new requests: a reconnecting tab would reopen what is closing.
    return ws?.confirmed && ws.state === 'running' && ws.stopping === undefined ? ws.endpoint : undefined;
  }

  get(user: string): Workspace | undefined {
    return this.workspaces.get(user);
  }

  all(): IterableIterator<Workspace> {
    return this.workspaces.values();
  }

  /**
   * Resolves with the endpoint once the workspace answers HTTP. A request that
   * may not wake it gets WorkspaceNotRunningError at once when it is known to
   * be down, so a reconnecting tab costs no engine call.
   */
  async ensure(user: string, { wake }: EnsureOptions): Promise<Endpoint> {
    const endpoint = this.endpointOf(user);
    if (endpoint) return endpoint;
    const ws = this.record(user);
    if (!ws.pending) {
      if (!wake && (ws.confirmed || ws.stopping !== undefined)) throw new WorkspaceNotRunningError(user);
      ws.pending = this.bringUp(ws, wake);
      ws.pending.catch(() => {}).finally(() => (ws.pending = undefined));
    }
    return withDeadline(ws.pending, this.options.spawnTimeoutMs);
  }

  /** Activity by the student (a request, a WebSocket data frame). */
  touch(user: string, kind: string, at = Date.now()): void {
    const ws = this.workspaces.get(user);
    if (!ws) return;
    ws.lastActivity = at;
    ws.lastActivityKind = kind;
  }

  /** The proxy could not connect: the next request asks the engine again. */
  unreachable(user: string): void {
    const ws = this.workspaces.get(user);
    if (ws && !ws.pending) ws.confirmed = false;
  }

  async stop(user: string, reason: string): Promise<void> {
    // Tabs hear why before the editor goes, instead of a bare connection loss.
    this.emit('stopping', user, reason);
    const ws = this.record(user);
    ws.stopping = reason;
    try {
      await this.runtime.stop(user);
    } finally {
      ws.stopping = undefined;
    }
    this.markDown(ws, 'stopped', reason);
    ws.confirmed = true;
  }

  async remove(user: string, options: { volume?: boolean } = {}): Promise<void> {
    await this.runtime.remove(user, options);
    const ws = this.record(user);
    this.markDown(ws, 'absent', 'removed');
    ws.confirmed = true;
  }

  /** Reads what the engine holds, so a restarted gateway serves running workspaces at once. */
  async reconcile(): Promise<WorkspaceInfo[]> {
    const infos = await this.runtime.list();
    const listed = new Set(infos.map((info) => info.user));
    for (const ws of this.workspaces.values()) {
      // Gone from the engine behind the gateway's back (removed by hand).
      if (!listed.has(ws.user) && !ws.pending && ws.state !== 'absent') {
        this.markDown(ws, 'absent', 'removed outside the gateway');
        ws.confirmed = true;
      }
    }
    for (const info of infos) {
      const ws = this.record(info.user);
      if (ws.pending) continue;
      this.apply(ws, info);
      ws.confirmed = true;
      // Idle clocks start now for what was running before the restart.
      if (info.state === 'running') ws.lastActivity ??= Date.now();
    }
    return infos;
  }

  /** Asks the engine about one workspace (e.g. when it stopped, which listing does not tell). */
  async refresh(user: string): Promise<Workspace> {
    const ws = this.record(user);
    const info = await this.runtime.inspect(user);
    if (!ws.pending) {
      this.apply(ws, info);
      ws.confirmed = true;
    }
    return ws;
  }

  /** Follows the engine's events until `signal` aborts. */
  async watch(signal: AbortSignal): Promise<void> {
    for await (const event of this.runtime.events(signal)) this.onRuntimeEvent(event);
  }

  private onRuntimeEvent(event: RuntimeEvent): void {
    const ws = this.workspaces.get(event.user);
    // A spawn in flight decides the state itself; news about a replaced instance is stale.
    if (!ws || ws.pending || (event.id && ws.id && event.id !== ws.id)) return;
    this.logger.info({ user: event.user, event: event.kind, reason: event.reason }, 'workspace changed in the engine');
    // Already down (our own stop finished before the engine's news of it arrived): keep our reason.
    if (ws.state !== 'running' && event.kind !== 'removed') return;
    if (ws.stopping && event.kind !== 'removed') {
      // Our own stop (a kill after the grace period included): stopped, for our reason.
      this.markDown(ws, 'stopped', ws.stopping);
      ws.confirmed = true;
      return;
    }
    const state = event.kind === 'removed' ? 'absent' : event.kind === 'died' ? 'error' : 'stopped';
    this.markDown(ws, state, event.reason ?? event.kind);
    // After a crash the engine's inspection knows more (an out-of-memory kill, not just "137").
    ws.confirmed = event.kind !== 'died';
  }

  private async bringUp(ws: Workspace, wake: boolean): Promise<Endpoint> {
    const info = await this.runtime.inspect(ws.user);
    if (info.state === 'running' && info.endpoint) {
      // Running but maybe still booting (the gateway restarted mid-spawn).
      return this.untilAnswering(ws, info, Date.now() + this.options.spawnTimeoutMs);
    }
    this.apply(ws, info);
    ws.confirmed = true;
    if (!wake) throw new WorkspaceNotRunningError(ws.user);
    await this.makeRoom(ws.user);
    return this.queue.run(
      () => this.spawn(ws),
      (position) => this.progress(ws, { phase: 'queued', message: `Waiting for a free slot: ${position} ahead of you in line`, position }),
    );
  }

  private async spawn(ws: Workspace): Promise<Endpoint> {
    const began = Date.now();
    const deadline = began + this.options.spawnTimeoutMs;
    ws.state = 'creating';
    try {
      const info = await this.runtime.start(ws.user, (progress) => this.progress(ws, progress));
      const endpoint = await this.untilAnswering(ws, info, deadline);
      this.options.onSpawn?.('ok', (Date.now() - began) / 1000);
      this.logger.info({ user: ws.user, ms: Date.now() - began }, 'workspace ready');
      return endpoint;
    } catch (err) {
      this.options.onSpawn?.('failed', (Date.now() - began) / 1000);
      const reason = err instanceof GatewayError ? err.message : String(err);
      this.progress(ws, { phase: 'failed', message: reason });
      if (ws.state === 'creating') {
        ws.state = 'error';
        ws.reason = reason;
      }
      ws.confirmed = false;
      this.logger.warn({ user: ws.user, err: reason }, 'workspace spawn failed');
      throw err;
    }
  }

  private async untilAnswering(ws: Workspace, info: WorkspaceInfo, deadline: number): Promise<Endpoint> {
    const endpoint = info.endpoint;
    if (!endpoint) throw new SpawnFailedError('the engine reported no address for the workspace');
    this.progress(ws, { phase: 'waiting', message: 'Waiting for the editor to answer' });
    if (!(await waitUntilAnswering(endpoint, deadline))) {
      const now = await this.runtime.inspect(ws.user);
      if (now.state !== 'running') {
        this.apply(ws, now);
        throw new SpawnFailedError(now.reason ?? `the workspace is ${now.state}`);
      }
      throw new SpawnTimeoutError(Math.round(this.options.spawnTimeoutMs / 1000));
    }
    this.apply(ws, info);
    ws.confirmed = true;
    this.progress(ws, { phase: 'ready', message: 'Ready' });
    // Starting counts as activity, or a woken workspace would look idle since its last stop.
    ws.lastActivity = Date.now();
    ws.lastActivityKind = 'start';
    return endpoint;
  }

  /** Progress goes to the starting page as it happens (`progress` event: user, progress). */
  private progress(ws: Workspace, progress: SpawnProgress): void {
    ws.progress = progress;
    this.emit('progress', ws.user, progress);
  }

  /**
   * Beyond `maxRunning`, the least recently active workspace that sat unused
   * for `evictIdleAfterMs` is stopped to make room, if that is configured;
   * otherwise the spawn is refused with a clear "full" answer.
   */
  private async makeRoom(user: string): Promise<void> {
    const max = this.options.maxRunning;
    if (max <= 0) return;
    let busy = 0;
    let victim: Workspace | undefined;
    for (const ws of this.workspaces.values()) {
      if (ws.user === user || !(ws.state === 'running' || ws.pending)) continue;
      busy++;
      if (ws.state === 'running' && !ws.pending && (victim === undefined || (ws.lastActivity ?? 0) < (victim.lastActivity ?? 0))) victim = ws;
    }
    if (busy < max) return;
    const evictAfter = this.options.evictIdleAfterMs;
    if (victim && evictAfter !== undefined && Date.now() - (victim.lastActivity ?? 0) >= evictAfter) {
      this.logger.info({ user: victim.user, for: user }, 'stopping the least recently active workspace to make room');
      // Counted as stopped at once, so a second spawn arriving now picks another victim or waits.
      this.emit('stopping', victim.user, 'stopped to make room');
      this.markDown(victim, 'stopped', 'stopped to make room');
      await this.runtime.stop(victim.user);
      return;
    }
    throw new CapacityError(`All ${max} workspace places are in use right now. Try again in a few minutes; it does not help to reload quickly.`);
  }

  private apply(ws: Workspace, info: WorkspaceInfo): void {
    if (info.state === 'running') ws.stoppedAt = undefined;
    else if (ws.state === 'running' || ws.stoppedAt === undefined) ws.stoppedAt = info.finishedAt?.getTime() ?? ws.stoppedAt;
    ws.state = info.state;
    ws.id = info.id;
    ws.endpoint = info.state === 'running' ? info.endpoint : undefined;
    ws.startedAt = info.startedAt ?? ws.startedAt;
    if (info.reason) ws.reason = info.reason;
  }

  private markDown(ws: Workspace, state: WorkspaceState, reason: string): void {
    const wasRunning = ws.state === 'running';
    const endpoint = ws.endpoint;
    if (wasRunning || ws.stoppedAt === undefined) ws.stoppedAt = Date.now();
    ws.state = state;
    ws.endpoint = undefined;
    ws.reason = reason;
    if (wasRunning) this.emit('down', ws.user, reason, endpoint);
  }

  private record(user: string): Workspace {
    let ws = this.workspaces.get(user);
    if (!ws) {
      ws = { user, state: 'absent', confirmed: false };
      this.workspaces.set(user, ws);
    }
    return ws;
  }
}

/** A caller stops waiting after `ms`; the spawn itself carries on for the next request. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new SpawnTimeoutError(Math.round(ms / 1000))), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
