import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CapacityError, GatewayError, NotFoundError, StateUnavailableError } from '../errors.js';
import { placesInUse } from '../workspaces/capacity.js';
import type { WorkspaceHolds } from '../workspaces/holds.js';
import type { WorkspaceManager } from '../workspaces/manager.js';
import type { JobStore } from './job-store.js';
import { isLive, type PrewarmJob, type PrewarmUser } from './prewarm-job.js';
import { parsePrewarmRequest, type PrewarmLimits } from './prewarm-request.js';

export interface PrewarmerOptions {
  manager: WorkspaceManager;
  holds: WorkspaceHolds;
  store: JobStore;
  limits: PrewarmLimits;
  /** GATEWAY_MAX_CONCURRENT_SPAWNS: a job never has more spawns than this in flight. */
  maxConcurrentSpawns: number;
  /** GATEWAY_MAX_RUNNING (0: no limit). */
  maxRunning: number;
  /** GATEWAY_EVICT_IDLE_AFTER: when set, a full gateway may still make room, so the manager decides. */
  evictIdleAfterMs?: number;
  logger: Logger;
  now?: () => number;
}

/** The spawn time assumed before the gateway measured one. */
const ASSUMED_SPAWN_MS = 20_000;
/** Spawns take longer when many run at once, and a lecture is no place for a near miss. */
const LEAD_FACTOR = 1.5;
const LEAD_MARGIN_MS = 10_000;
/** Ended jobs are answered this long after their hold ended, then forgotten. */
const KEEP_ENDED_MS = 7 * 24 * 3600_000;
/** setTimeout's largest delay; later times are reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Pre-warm jobs (SPEC §8): a roster's workspaces started in order, early
 * enough to be ready by `readyBy`, within the gateway's capacity and spawn
 * concurrency, then held (not stopped for idleness) until `holdUntil`. Jobs
 * live in a JobStore, so a restarted gateway resumes them: users it had
 * begun are started again (a wake of a running workspace is a no-op), ready
 * ones are held again.
 */
export class Prewarmer {
  private readonly jobs = new Map<string, PrewarmJob>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly now: () => number;
  private closed = false;
  /** Set when the store could not be read: saving then would overwrite jobs this gateway does not know. */
  private unreadable?: string;
  private dirty = false;
  private flushing?: Promise<void>;

  constructor(private readonly options: PrewarmerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Start-up: reads the stored jobs and carries on with the live ones. */
  async resume(): Promise<void> {
    let stored: PrewarmJob[];
    try {
      stored = await this.options.store.load();
    } catch (err) {
      this.unreadable = (err as Error).message;
      this.options.logger.error({ err: this.unreadable }, 'pre-warm jobs could not be read; new ones are refused until the state file is fixed');
      return;
    }
    const now = this.now();
    for (const job of stored) {
      if (now - job.holdUntil > KEEP_ENDED_MS) continue;
      this.jobs.set(job.id, job);
      if (!isLive(job)) continue;
      for (const u of job.users) {
        // Begun before the restart: its spawn may or may not have finished; starting it again finds out.
        if (u.state === 'starting') u.state = 'pending';
        if (u.state === 'ready') this.options.holds.hold(u.user, job.id, job.holdUntil);
      }
      if (job.state === 'scheduled') job.startAt = Math.max(now, job.readyBy - this.leadMs(job));
      this.options.logger.info({ job: job.id, state: job.state, users: job.users.length }, 'pre-warm job resumed');
      this.schedule(job);
    }
  }

  /**
   * `POST /api/prewarm`: checks the request, saves the job, then schedules
   * it; says how many of its users do not fit in the places free now.
   */
  async create(body: unknown, by: string): Promise<{ job: PrewarmJob; beyondCapacity: number }> {
    const now = this.now();
    const request = parsePrewarmRequest(body, this.options.limits, now);
    if (this.unreadable) throw new StateUnavailableError(this.unreadable);
    const job: PrewarmJob = {
      id: `pw_${randomBytes(9).toString('base64url')}`,
      by,
      createdAt: now,
      startAt: now,
      readyBy: request.readyBy,
      holdUntil: request.holdUntil,
      state: 'scheduled',
      users: request.users.map((user) => ({ user, state: 'pending' })),
    };
    job.startAt = Math.max(now, job.readyBy - this.leadMs(job));
    this.jobs.set(job.id, job);
    try {
      await this.persist();
    } catch (err) {
      this.jobs.delete(job.id);
      throw new StateUnavailableError((err as Error).message);
    }
    this.options.logger.info(
      { job: job.id, by, users: job.users.length, startAt: new Date(job.startAt).toISOString(), readyBy: new Date(job.readyBy).toISOString() },
      'pre-warm job scheduled',
    );
    const beyondCapacity = this.beyondCapacity(job);
    this.schedule(job);
    return { job, beyondCapacity };
  }

  get(id: string): PrewarmJob {
    const job = this.jobs.get(id);
    if (!job) throw new NotFoundError('No pre-warm job has this id (ended jobs are kept for 7 days).');
    return job;
  }

  all(): PrewarmJob[] {
    return [...this.jobs.values()];
  }

  /**
   * `DELETE /api/prewarm/<id>`: users not yet begun are skipped; those being
   * started finish starting; every hold ends, so the normal idle rule applies.
   */
  async cancel(id: string): Promise<PrewarmJob> {
    const job = this.get(id);
    if (!isLive(job)) return job;
    job.state = 'cancelled';
    for (const u of job.users) if (u.state === 'pending') settle(u, 'skipped', 'the job was cancelled');
    this.end(job);
    this.options.logger.info({ job: id }, 'pre-warm job cancelled');
    await this.persist().catch((err: Error) => this.saveFailed(err));
    return job;
  }

  /** Users of a job beyond the places left now, if the gateway has a limit. */
  private beyondCapacity(job: PrewarmJob): number {
    const { maxRunning } = this.options;
    if (maxRunning <= 0) return 0;
    const toStart = job.users.filter((u) => u.state === 'pending' && !this.options.manager.endpointOf(u.user)).length;
    return Math.max(0, toStart - Math.max(0, maxRunning - placesInUse(this.options.manager.all())));
  }

  /** Stops scheduling and saving; the jobs carry on in the next gateway on this state folder. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** readyBy minus this is when a job's workspaces start: its spawn waves at the measured spawn time, with room to spare. */
  private leadMs(job: PrewarmJob): number {
    const toStart = job.users.filter((u) => u.state === 'pending').length;
    const waves = Math.ceil(toStart / this.options.maxConcurrentSpawns);
    const spawnMs = this.options.manager.spawnTimes.estimateMs() ?? ASSUMED_SPAWN_MS;
    return waves * spawnMs * LEAD_FACTOR + LEAD_MARGIN_MS;
  }

  private schedule(job: PrewarmJob): void {
    if (job.state === 'scheduled' || job.state === 'starting') this.at(job, job.startAt, () => void this.run(job));
    else if (job.state === 'holding') this.at(job, job.holdUntil, () => this.finish(job));
  }

  private at(job: PrewarmJob, time: number, then: () => void): void {
    clearTimeout(this.timers.get(job.id));
    const delay = time - this.now();
    if (delay <= 0) {
      this.timers.delete(job.id);
      then();
      return;
    }
    const timer = setTimeout(() => this.at(job, time, then), Math.min(delay, MAX_TIMER_MS));
    timer.unref();
    this.timers.set(job.id, timer);
  }

  private async run(job: PrewarmJob): Promise<void> {
    if (this.closed || job.state === 'cancelled') return;
    job.state = 'starting';
    this.options.logger.info({ job: job.id }, 'pre-warm job starting workspaces');
    this.save();
    const queue = job.users.filter((u) => u.state === 'pending');
    const worker = async () => {
      for (let u = queue.shift(); u; u = queue.shift()) {
        if (this.closed || job.state === 'cancelled') return;
        await this.warm(job, u);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.maxConcurrentSpawns, queue.length) }, worker));
    if (this.closed || job.state !== 'starting') return;
    job.state = 'holding';
    const counts = job.users.reduce<Record<string, number>>((c, u) => ((c[u.state] = (c[u.state] ?? 0) + 1), c), {});
    this.options.logger.info({ job: job.id, ...counts }, 'pre-warm job started its workspaces');
    this.save();
    this.schedule(job);
  }

  private async warm(job: PrewarmJob, u: PrewarmUser): Promise<void> {
    const { manager, maxRunning, evictIdleAfterMs } = this.options;
    if (manager.endpointOf(u.user)) return this.ready(job, u, 'already running');
    // Checked here, where no await separates it from the wake that takes the place: concurrent workers see each other's spawns.
    if (maxRunning > 0 && evictIdleAfterMs === undefined && placesInUse(manager.all()) >= maxRunning && !manager.get(u.user)?.pending)
      return this.skip(u, maxRunning);
    u.state = 'starting';
    const woken = manager.wake(u.user);
    this.save();
    try {
      await woken;
      this.ready(job, u);
    } catch (err) {
      if (err instanceof CapacityError) return this.skip(u, maxRunning);
      settle(u, 'failed', err instanceof GatewayError ? err.message : String(err));
      this.options.logger.warn({ job: job.id, user: u.user, err: u.reason }, 'pre-warm could not start a workspace');
      this.save();
    }
  }

  private ready(job: PrewarmJob, u: PrewarmUser, reason?: string): void {
    settle(u, 'ready', reason);
    u.readyAt = this.now();
    this.options.holds.hold(u.user, job.id, job.holdUntil);
    this.save();
  }

  private skip(u: PrewarmUser, maxRunning: number): void {
    settle(u, 'skipped', `no free place: all ${maxRunning} workspace places (GATEWAY_MAX_RUNNING) are in use`);
    this.save();
  }

  private finish(job: PrewarmJob): void {
    job.state = 'finished';
    this.end(job);
    this.options.logger.info({ job: job.id }, 'pre-warm job finished; its workspaces follow the idle rule again');
    this.save();
  }

  private end(job: PrewarmJob): void {
    clearTimeout(this.timers.get(job.id));
    this.timers.delete(job.id);
    this.options.holds.releaseAll(job.id);
  }

  /**
   * Writes in the background; a write already under way is followed by one
   * more with the latest state. A closed prewarmer writes nothing: its spawns
   * may still finish, after a new gateway took the file over.
   */
  private save(): void {
    if (this.closed) return;
    this.persist().catch((err: Error) => this.saveFailed(err));
  }

  private persist(): Promise<void> {
    this.dirty = true;
    this.flushing ??= (async () => {
      try {
        while (this.dirty) {
          this.dirty = false;
          const now = this.now();
          await this.options.store.save([...this.jobs.values()].filter((j) => isLive(j) || now - j.holdUntil <= KEEP_ENDED_MS));
        }
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private saveFailed(err: Error): void {
    // The jobs go on in memory; a restart now would lose what changed since the last good write.
    this.options.logger.error({ err: err.message }, 'pre-warm jobs could not be saved');
  }
}

function settle(u: PrewarmUser, state: 'ready' | 'failed' | 'skipped', reason?: string): void {
  u.state = state;
  u.reason = reason;
}
