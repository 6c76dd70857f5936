import { CapacityError } from '../errors.js';
import type { WorkspaceHolds } from './holds.js';
import type { Workspace } from './workspace.js';

export interface CapacityLimits {
  /** Running (or starting) workspaces at most; 0 or less: no limit. */
  maxRunning: number;
  /** When full, stop the least recently active workspace idle this long (unset: never). */
  evictIdleAfterMs?: number;
}

/** Places taken: running workspaces and those starting. */
export function placesInUse(workspaces: Iterable<Workspace>): number {
  let busy = 0;
  for (const ws of workspaces) if (ws.state === 'running' || ws.pending) busy++;
  return busy;
}

/**
 * Whether `user`'s workspace may start now: undefined when there is room;
 * the workspace to stop first when all places are taken and the least
 * recently active one sat unused for `evictIdleAfterMs`; otherwise a
 * CapacityError, the clear "full" answer. Starting workspaces and held ones
 * (a pre-warmed roster) take a place but are never chosen.
 */
export function evictionFor(user: string, workspaces: Iterable<Workspace>, limits: CapacityLimits, now: number, holds?: WorkspaceHolds): Workspace | undefined {
  const max = limits.maxRunning;
  if (max <= 0) return undefined;
  let busy = 0;
  let victim: Workspace | undefined;
  for (const ws of workspaces) {
    if (ws.user === user || !(ws.state === 'running' || ws.pending)) continue;
    busy++;
    if (holds?.until(ws.user, now) !== undefined) continue;
    if (ws.state === 'running' && !ws.pending && (victim === undefined || (ws.lastActivity ?? 0) < (victim.lastActivity ?? 0))) victim = ws;
  }
  if (busy < max) return undefined;
  const evictAfter = limits.evictIdleAfterMs;
  if (victim && evictAfter !== undefined && now - (victim.lastActivity ?? 0) >= evictAfter) return victim;
  throw new CapacityError(`All ${max} workspace places are in use right now. Try again in a few minutes; it does not help to reload quickly.`);
}
