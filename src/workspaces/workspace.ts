import type { Endpoint, RuntimeEvent, WorkspaceInfo, WorkspaceState } from '../runtimes/runtime.js';
import type { SpawnProgress } from './spawn-progress.js';

/** What the gateway knows about one user's workspace. */
export interface Workspace {
  user: string;
  state: WorkspaceState;
  /**
   * False when the state is a guess (never read from the engine, or the editor
   * stopped answering): the next request asks the engine before trusting it.
   */
  confirmed: boolean;
  /** The current instance (see WorkspaceInfo.id): news about another one is stale. */
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
  /** Sequence number of the gateway's last own change (a stop, a start): engine answers asked for before it are stale. */
  changed?: number;
  /** The one spawn or wake in flight; every concurrent request awaits it. */
  pending?: Promise<Endpoint>;
}

/*
 * The seed's state table (SPEC §3), as changes to a Workspace record:
 *
 *   absent → creating → running          beginSpawn, becameReady
 *   running → stopped                    markDown (idle, API, room), or an engine event
 *   stopped → running                    beginSpawn, becameReady (a wake passes through creating)
 *   creating/running → error             spawnFailed, or an engine `died` event
 *   error → creating                     beginSpawn (a retry)
 *   stopped/error → removed (absent)     markDown(…, 'absent', …)
 *
 * and whatever the engine reports (applyInfo) wins over the gateway's guess.
 * Every function here only changes the record; telling listeners is the
 * manager's job.
 */

export function unknownWorkspace(user: string): Workspace {
  return { user, state: 'absent', confirmed: false };
}

/** The engine's picture of the workspace replaces the gateway's. */
export function applyInfo(ws: Workspace, info: WorkspaceInfo): void {
  if (info.state === 'running') ws.stoppedAt = undefined;
  else if (ws.state === 'running' || ws.stoppedAt === undefined) ws.stoppedAt = info.finishedAt?.getTime() ?? ws.stoppedAt;
  ws.state = info.state;
  ws.id = info.id;
  ws.endpoint = info.state === 'running' ? info.endpoint : undefined;
  ws.startedAt = info.startedAt ?? ws.startedAt;
  if (info.reason) ws.reason = info.reason;
}

/** What a workspace that went down had while it ran, for those who must close its connections. */
export interface WentDown {
  endpoint?: Endpoint;
}

/** Not running any more, for `reason`; says what it had when it was running until now. */
export function markDown(ws: Workspace, state: WorkspaceState, reason: string, now: number): WentDown | undefined {
  const wasRunning = ws.state === 'running';
  const endpoint = ws.endpoint;
  if (wasRunning || ws.stoppedAt === undefined) ws.stoppedAt = now;
  ws.state = state;
  ws.endpoint = undefined;
  ws.reason = reason;
  return wasRunning ? { endpoint } : undefined;
}

export function beginSpawn(ws: Workspace): void {
  ws.state = 'creating';
}

/** The editor answers: running, confirmed, and active since now. */
export function becameReady(ws: Workspace, info: WorkspaceInfo, now: number): void {
  applyInfo(ws, info);
  ws.confirmed = true;
  // Starting counts as activity, or a woken workspace would look idle since its last stop.
  ws.lastActivity = now;
  ws.lastActivityKind = 'start';
}

/** A spawn gave up; a state the engine already reported during it is kept. */
export function spawnFailed(ws: Workspace, reason: string): void {
  if (ws.state === 'creating') {
    ws.state = 'error';
    ws.reason = reason;
  }
  ws.confirmed = false;
}

/** What an engine event does to the workspace, or undefined when it changes nothing. */
export interface EventOutcome {
  state: WorkspaceState;
  reason: string;
  /** False after a crash: the engine's inspection knows more (an out-of-memory kill, not just "137"). */
  confirmed: boolean;
}

export function outcomeOfEvent(ws: Workspace, event: Exclude<RuntimeEvent, { kind: 'gap' }>): EventOutcome | undefined {
  // A spawn in flight decides the state itself; news about a replaced instance is stale.
  if (ws.pending || (event.id && ws.id && event.id !== ws.id)) return undefined;
  // Already down (our own stop finished before the engine's news of it arrived): keep our reason.
  if (ws.state !== 'running' && event.kind !== 'removed') return undefined;
  // Our own stop (a kill after the grace period included): stopped, for our reason.
  if (ws.stopping && event.kind !== 'removed') return { state: 'stopped', reason: ws.stopping, confirmed: true };
  const state = event.kind === 'removed' ? 'absent' : event.kind === 'died' ? 'error' : 'stopped';
  return { state, reason: event.reason ?? event.kind, confirmed: event.kind !== 'died' };
}
