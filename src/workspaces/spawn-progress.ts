import type { RuntimePhase, RuntimeProgress } from '../runtimes/runtime.js';

/**
 * The steps a student sees on the starting page: the runtime's own steps
 * (creating, pulling, scheduled, starting) framed by the gateway's: a place
 * in the spawn queue before, waiting for the editor to answer after, and how
 * it ended.
 */
export type SpawnPhase = 'queued' | RuntimePhase | 'waiting' | 'ready' | 'failed';

export interface SpawnProgress {
  phase: SpawnPhase;
  /** A short sentence for the starting page. */
  message: string;
  /** Place in the spawn queue while `queued` (1 = next). */
  position?: number;
}

export function fromRuntime(progress: RuntimeProgress): SpawnProgress {
  return { phase: progress.phase, message: progress.detail };
}

export function queued(position: number): SpawnProgress {
  return { phase: 'queued', message: `Waiting for a free slot: ${position} ahead of you in line`, position };
}

export const WAITING_FOR_EDITOR: SpawnProgress = { phase: 'waiting', message: 'Waiting for the editor to answer' };

export const READY: SpawnProgress = { phase: 'ready', message: 'Ready' };

export function failed(reason: string): SpawnProgress {
  return { phase: 'failed', message: reason };
}
