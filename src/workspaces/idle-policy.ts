import type { Logger } from 'pino';
import type { WorkspaceHolds } from './holds.js';
import type { WorkspaceManager } from './manager.js';

export interface IdlePolicyOptions {
  manager: WorkspaceManager;
  idleTimeoutMs: number;
  removeAfterMs: number;
  /** Held workspaces are not stopped before their hold ends (a pre-warmed roster). */
  holds?: WorkspaceHolds;
  logger: Logger;
  onIdleStop?: () => void;
  onRemove?: () => void;
  now?: () => number;
}

export interface SweepResult {
  stopped: string[];
  removed: string[];
  errors: number;
}

/** Stops and removals run a few at a time, so one sweep never floods the engine. */
const CONCURRENCY = 4;
/** Stopped workspaces whose stop time is unknown (found at start-up) asked about per sweep. */
const INSPECTS_PER_SWEEP = 100;

/**
 * The idle policy (SPEC §4): stop a workspace nobody used for the idle
 * timeout; remove a container stopped longer than the removal age. Volumes are
 * never touched here. A sweep reads the engine's list once, then works on the
 * gateway's picture, so it stays cheap at 10,000 workspaces and an engine
 * error only postpones it to the next sweep.
 */
export class IdlePolicy {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<SweepResult>;
  private readonly now: () => number;

  constructor(private readonly options: IdlePolicyOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Sweeps at a quarter of the idle timeout (between 1 and 30 seconds). */
  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.sweepEveryMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Epoch ms from which a running workspace is due for an idle stop (a sweep
   * stops it at the first pass after), or undefined when it does not run.
   */
  stopsAt(user: string): number | undefined {
    const ws = this.options.manager.get(user);
    if (!ws || ws.state !== 'running' || ws.pending) return undefined;
    const idleEnd = (ws.lastActivity ?? this.now()) + this.options.idleTimeoutMs;
    return Math.max(idleEnd, this.options.holds?.until(user, this.now()) ?? 0);
  }

  /** How often sweeps run: an idle stop comes at most this long after its time. */
  get sweepEveryMs(): number {
    return Math.min(30_000, Math.max(1000, Math.floor(this.options.idleTimeoutMs / 4)));
  }

  /** One pass; overlapping calls share the pass in progress. */
  sweep(): Promise<SweepResult> {
    this.sweeping ??= this.pass().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async pass(): Promise<SweepResult> {
    const { manager, removeAfterMs, logger } = this.options;
    const result: SweepResult = { stopped: [], removed: [], errors: 0 };
    try {
      await manager.reconcile();
    } catch (err) {
      // The engine is away: nothing can be stopped now; try again next sweep.
      logger.warn({ err: (err as Error).message }, 'idle sweep skipped: engine not reachable');
      result.errors++;
      return result;
    }
    const now = this.now();
    const idle: string[] = [];
    const old: string[] = [];
    const unknownAge: string[] = [];
    for (const ws of manager.all()) {
      if (ws.pending) continue;
      if (ws.state === 'running') {
        if (now >= (this.stopsAt(ws.user) ?? Infinity)) idle.push(ws.user);
      } else if (ws.state === 'stopped' || ws.state === 'error') {
        if (ws.stoppedAt === undefined) unknownAge.push(ws.user);
        else if (now - ws.stoppedAt >= removeAfterMs) old.push(ws.user);
      }
    }
    await eachLimited(
      unknownAge.slice(0, INSPECTS_PER_SWEEP),
      async (user) => {
        const ws = await manager.refresh(user);
        if (ws.stoppedAt !== undefined && now - ws.stoppedAt >= removeAfterMs) old.push(user);
      },
      () => result.errors++,
    );
    await eachLimited(
      idle,
      async (user) => {
        // Activity may have arrived while earlier stops ran.
        const ws = manager.get(user);
        if (!ws || this.now() < (this.stopsAt(user) ?? Infinity)) return;
        logger.info({ user, idleSeconds: Math.round((this.now() - (ws.lastActivity ?? 0)) / 1000) }, 'stopping idle workspace');
        await manager.stop(user, 'idle');
        result.stopped.push(user);
        this.options.onIdleStop?.();
      },
      () => result.errors++,
    );
    await eachLimited(
      old,
      async (user) => {
        logger.info({ user }, 'removing long-stopped workspace container (volume kept)');
        await manager.remove(user, { volume: false });
        result.removed.push(user);
        this.options.onRemove?.();
      },
      () => result.errors++,
    );
    return result;
  }
}

async function eachLimited(items: string[], task: (item: string) => Promise<void>, onError: (err: unknown) => void): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await task(item).catch(onError);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}
