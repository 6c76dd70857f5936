/**
 * A pre-warm job and its users' states, as kept in the state folder and
 * answered by `GET /api/prewarm/<id>`. Plain data: the prewarmer changes it,
 * the store writes it.
 */
export type UserState = 'pending' | 'starting' | 'ready' | 'failed' | 'skipped';

/**
 *   scheduled   waiting for its start time (readyBy minus the estimated spawn time)
 *   starting    workspaces being started, in order
 *   holding     every user settled; none stopped for idleness until holdUntil
 *   finished    past holdUntil: its workspaces follow the normal idle rule
 *   cancelled   by DELETE: what had not started never will
 */
export type JobState = 'scheduled' | 'starting' | 'holding' | 'finished' | 'cancelled';

export interface PrewarmUser {
  user: string;
  state: UserState;
  /** Why it failed or was skipped; for `ready`, `already running` when it was. */
  reason?: string;
  /** Epoch ms it became ready. */
  readyAt?: number;
}

export interface PrewarmJob {
  id: string;
  /** The admin who asked. */
  by: string;
  createdAt: number;
  /** Epoch ms the workspaces start (estimated at creation, again after a restart). */
  startAt: number;
  readyBy: number;
  holdUntil: number;
  state: JobState;
  users: PrewarmUser[];
}

/** Whether the job still has work or holds (it is resumed after a restart). */
export const isLive = (job: PrewarmJob): boolean => job.state !== 'finished' && job.state !== 'cancelled';

/** The JSON answer: times in ISO form, a count per user state. */
export function describeJob(job: PrewarmJob) {
  const counts: Record<UserState, number> = { pending: 0, starting: 0, ready: 0, failed: 0, skipped: 0 };
  for (const u of job.users) counts[u.state]++;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: job.id,
    state: job.state,
    by: job.by,
    createdAt: iso(job.createdAt),
    startAt: iso(job.startAt),
    readyBy: iso(job.readyBy),
    holdUntil: iso(job.holdUntil),
    counts,
    users: job.users.map((u) => ({ user: u.user, state: u.state, reason: u.reason ?? null, readyAt: u.readyAt ? iso(u.readyAt) : null })),
  };
}
