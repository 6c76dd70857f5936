import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { beforeDeadline } from '../deadline.js';
import { GatewayError, NoStorageError, SpawnFailedError, SpawnTimeoutError, WorkspaceNotRunningError } from '../errors.js';
import type { Endpoint, Runtime, RuntimeEvent, RuntimeStorage, WorkspaceInfo } from '../runtimes/runtime.js';
import { evictionFor, type CapacityLimits } from './capacity.js';
import type { WorkspaceHolds } from './holds.js';
import { Listeners } from './listeners.js';
import { waitUntilAnswering } from './readiness.js';
import { failed, fromRuntime, queued, READY, WAITING_FOR_EDITOR, type SpawnProgress } from './spawn-progress.js';
import { SpawnQueue } from './spawn-queue.js';
import { SpawnTimes } from './spawn-times.js';
import { applyInfo, becameReady, beginSpawn, markDown, outcomeOfEvent, spawnFailed, unknownWorkspace, type Workspace } from './workspace.js';

export interface WorkspaceManagerOptions extends CapacityLimits {
  runtime: Runtime;
  /** GATEWAY_SPAWN_TIMEOUT: how long a caller waits, and how long a runtime may take to start a workspace. */
  spawnTimeoutMs: number;
  maxConcurrentSpawns: number;
  /** Workspaces never stopped to make room (a pre-warmed roster). */
  holds?: WorkspaceHolds;
  logger: Logger;
  /** Hooks for metrics; kept as callbacks so this module does not know Prometheus. */
  onSpawn?: (outcome: 'ok' | 'failed', seconds: number) => void;
}

/**
 * The lifecycle of every workspace: spawn or wake once per user however many
 * requests arrive together, in arrival order under the concurrency limit, and
 * keep a picture of each workspace that the engine's own events keep true.
 * The record's state changes are those of src/workspaces/workspace.ts; who
 * must make room, src/workspaces/capacity.ts.
 */
export class WorkspaceManager {
  private readonly workspaces = new Map<string, Workspace>();
  private readonly queue: SpawnQueue;
  private readonly runtime: Runtime;
  private readonly logger: Logger;
  private readonly stopping = new Listeners<[user: string, reason: string]>();
  private readonly down = new Listeners<[user: string, reason: string, endpoint: Endpoint | undefined]>();
  private readonly progressed = new Listeners<[user: string, progress: SpawnProgress]>();
  /** Measured spawn durations, for a pre-warm's lead time. */
  readonly spawnTimes = new SpawnTimes();
  /** Counts the gateway's own changes to records (see Workspace.changed): a listing begun before one is stale for it. */
  private changes = 0;

  constructor(private readonly options: WorkspaceManagerOptions) {
    this.runtime = options.runtime;
    this.logger = options.logger;
    this.queue = new SpawnQueue(options.maxConcurrentSpawns);
  }

  /** Before the gateway stops a workspace, so tabs hear why before the editor goes. */
  onStopping(listener: (user: string, reason: string) => void): () => void {
    return this.stopping.add(listener);
  }

  /** A workspace stopped running (`endpoint` is where it listened), so its open connections can be closed. */
  onDown(listener: (user: string, reason: string, endpoint: Endpoint | undefined) => void): () => void {
    return this.down.add(listener);
  }

  /** Every step of a spawn, as it happens (the starting page's progress stream). */
  onProgress(listener: (user: string, progress: SpawnProgress) => void): () => void {
    return this.progressed.add(listener);
  }

  /** Start-up and /readyz: whether the runtime can start workspaces (see Runtime.prepare). */
  prepare(): Promise<void> {
    return this.runtime.prepare();
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
   * A page load or an explicit start (SPEC §3): spawns or wakes the workspace
   * unless it runs, and resolves with the endpoint once it answers HTTP.
   */
  wake(user: string): Promise<Endpoint> {
    return this.bringUpOnce(user, true);
  }

  /**
   * Any other request, which may not wake a workspace: resolves once a spawn
   * in flight is done, or with a workspace that runs; throws
   * WorkspaceNotRunningError otherwise, at once when the workspace is known to
   * be down, so a reconnecting tab costs no engine call.
   */
  whenRunning(user: string): Promise<Endpoint> {
    return this.bringUpOnce(user, false);
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
    this.stopping.tell(user, reason);
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

  /** Stops the workspace and moves its files and future runs to another host (see Runtime.move). */
  async move(user: string, host: string): Promise<void> {
    if (!this.runtime.move)
      throw new GatewayError('not_supported', 501, `The ${this.runtime.name} runtime has one host: there is nowhere to move a workspace to.`);
    await this.stop(user, `moved to ${host}`);
    await this.runtime.move(user, host);
  }

  /** The user's files as an uncompressed tar stream (see RuntimeStorage.backup). */
  async backup(user: string): Promise<Readable> {
    return this.storage().backup(user);
  }

  /** Unpacks an uncompressed tar stream into the user's files (see RuntimeStorage.restore). */
  async restore(user: string, archive: Readable): Promise<void> {
    return this.storage().restore(user, archive);
  }

  /** Reads what the engine holds, so a restarted gateway serves running workspaces at once. */
  async reconcile(): Promise<WorkspaceInfo[]> {
    const since = this.changes;
    const infos = await this.runtime.list();
    const listed = new Set(infos.map((info) => info.user));
    for (const ws of this.workspaces.values()) {
      // Gone from the engine behind the gateway's back (removed by hand).
      if (!listed.has(ws.user) && !ws.pending && ws.state !== 'absent' && !changedSince(ws, since)) {
        this.markDown(ws, 'absent', 'removed outside the gateway');
        ws.confirmed = true;
      }
    }
    for (const info of infos) {
      const ws = this.record(info.user);
      // A stop or start the gateway made while the engine was listing is newer than the listing.
      if (ws.pending || changedSince(ws, since)) continue;
      applyInfo(ws, info);
      ws.confirmed = true;
      // Idle clocks start now for what was running before the restart.
      if (info.state === 'running') ws.lastActivity ??= Date.now();
    }
    return infos;
  }

  /** Asks the engine about one workspace (e.g. when it stopped, which listing does not tell). */
  async refresh(user: string): Promise<Workspace> {
    const ws = this.record(user);
    const since = this.changes;
    const info = await this.runtime.inspect(user);
    if (!ws.pending && !changedSince(ws, since)) {
      applyInfo(ws, info);
      ws.confirmed = true;
    }
    return ws;
  }

  /** Follows the engine's events until `signal` aborts; after a gap in them, lists again. */
  async watch(signal: AbortSignal): Promise<void> {
    for await (const event of this.runtime.events(signal)) {
      if (event.kind === 'gap') await this.relist();
      else this.onRuntimeEvent(event);
    }
  }

  private async relist(): Promise<void> {
    this.logger.info('engine events may have been lost: listing the workspaces again');
    try {
      await this.reconcile();
    } catch (err) {
      // The next idle sweep lists again; until then the picture may be stale.
      this.logger.warn({ err: (err as Error).message }, 'listing after an event gap failed');
    }
  }

  private onRuntimeEvent(event: Exclude<RuntimeEvent, { kind: 'gap' }>): void {
    const ws = this.workspaces.get(event.user);
    const outcome = ws && outcomeOfEvent(ws, event);
    if (!ws || !outcome) return;
    this.logger.info({ user: event.user, event: event.kind, reason: event.reason }, 'workspace changed in the engine');
    this.markDown(ws, outcome.state, outcome.reason);
    ws.confirmed = outcome.confirmed;
  }

  private async bringUpOnce(user: string, wake: boolean): Promise<Endpoint> {
    const endpoint = this.endpointOf(user);
    if (endpoint) return endpoint;
    const ws = this.record(user);
    if (!ws.pending) {
      if (!wake && (ws.confirmed || ws.stopping !== undefined)) throw new WorkspaceNotRunningError(user);
      ws.pending = this.bringUp(ws, wake);
      ws.pending.catch(() => {}).finally(() => (ws.pending = undefined));
    }
    // A caller stops waiting at the deadline; the spawn itself carries on for the next request.
    return beforeDeadline(ws.pending, this.options.spawnTimeoutMs, () => {
      throw this.timeout();
    });
  }

  private async bringUp(ws: Workspace, wake: boolean): Promise<Endpoint> {
    const info = await this.runtime.inspect(ws.user);
    if (info.state === 'running' && info.endpoint) {
      // Running but maybe still booting (the gateway restarted mid-spawn).
      return this.untilAnswering(ws, info, Date.now() + this.options.spawnTimeoutMs);
    }
    applyInfo(ws, info);
    ws.confirmed = true;
    if (!wake) throw new WorkspaceNotRunningError(ws.user);
    await this.makeRoom(ws.user);
    return this.queue.run(
      () => this.spawn(ws),
      (position) => this.progress(ws, queued(position)),
    );
  }

  private async spawn(ws: Workspace): Promise<Endpoint> {
    const began = Date.now();
    const deadline = began + this.options.spawnTimeoutMs;
    beginSpawn(ws);
    try {
      const info = await this.start(ws);
      const endpoint = await this.untilAnswering(ws, info, deadline);
      this.spawnTimes.record(Date.now() - began);
      this.options.onSpawn?.('ok', (Date.now() - began) / 1000);
      this.logger.info({ user: ws.user, ms: Date.now() - began }, 'workspace ready');
      return endpoint;
    } catch (err) {
      this.options.onSpawn?.('failed', (Date.now() - began) / 1000);
      const reason = err instanceof GatewayError ? err.message : String(err);
      this.progress(ws, failed(reason));
      spawnFailed(ws, reason);
      this.logger.warn({ user: ws.user, err: reason }, 'workspace spawn failed');
      throw err;
    }
  }

  /**
   * The runtime's start, given up at the spawn deadline: the runtime then
   * undoes what it began (a service that cannot be placed is scaled back to
   * 0) and rejects with the deadline's SpawnTimeoutError, which the spawn
   * waits for, so a retry never races the clean-up.
   */
  private async start(ws: Workspace): Promise<WorkspaceInfo> {
    const cancel = new AbortController();
    const started = this.runtime.start(ws.user, { signal: cancel.signal, onProgress: (progress) => this.progress(ws, fromRuntime(progress)) });
    return beforeDeadline(started, this.options.spawnTimeoutMs, () => {
      cancel.abort(this.timeout());
      return started;
    });
  }

  private async untilAnswering(ws: Workspace, info: WorkspaceInfo, deadline: number): Promise<Endpoint> {
    const endpoint = info.endpoint;
    if (!endpoint) throw new SpawnFailedError('the engine reported no address for the workspace');
    this.progress(ws, WAITING_FOR_EDITOR);
    if (!(await waitUntilAnswering(endpoint, deadline))) {
      const now = await this.runtime.inspect(ws.user);
      if (now.state !== 'running') {
        applyInfo(ws, now);
        throw new SpawnFailedError(now.reason ?? `the workspace is ${now.state}`);
      }
      throw this.timeout();
    }
    becameReady(ws, info, Date.now());
    ws.changed = ++this.changes;
    this.progress(ws, READY);
    return endpoint;
  }

  private progress(ws: Workspace, progress: SpawnProgress): void {
    ws.progress = progress;
    this.progressed.tell(ws.user, progress);
  }

  private async makeRoom(user: string): Promise<void> {
    const victim = evictionFor(user, this.workspaces.values(), this.options, Date.now(), this.options.holds);
    if (!victim) return;
    this.logger.info({ user: victim.user, for: user }, 'stopping the least recently active workspace to make room');
    // Counted as stopped at once, so a second spawn arriving now picks another victim or waits.
    this.stopping.tell(victim.user, 'stopped to make room');
    this.markDown(victim, 'stopped', 'stopped to make room');
    await this.runtime.stop(victim.user);
  }

  private markDown(ws: Workspace, state: Workspace['state'], reason: string): void {
    ws.changed = ++this.changes;
    const wentDown = markDown(ws, state, reason, Date.now());
    if (wentDown) this.down.tell(ws.user, reason, wentDown.endpoint);
  }

  private timeout(): SpawnTimeoutError {
    return new SpawnTimeoutError(Math.round(this.options.spawnTimeoutMs / 1000));
  }

  private storage(): RuntimeStorage {
    if (!this.runtime.storage) throw new NoStorageError();
    return this.runtime.storage;
  }

  private record(user: string): Workspace {
    let ws = this.workspaces.get(user);
    if (!ws) {
      ws = unknownWorkspace(user);
      this.workspaces.set(user, ws);
    }
    return ws;
  }
}

function changedSince(ws: Workspace, since: number): boolean {
  return (ws.changed ?? 0) > since;
}
