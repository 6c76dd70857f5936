/**
 * Plans for the demo workspace's `/__raw` endpoint: the workspace writes the
 * given bytes on its socket as they are, then closes, resets, holds or keeps
 * the connection. What a student's own process can answer on their port.
 */
export type AfterAnswer = 'close' | 'reset' | 'hold' | 'keep';

export interface RawPlan {
  pieces: (string | Buffer)[];
  gapMs?: number;
  after?: AfterAnswer;
}

/** The path (after `/ws/<user>`) that makes the workspace answer with `plan`. */
export function rawAnswerPath(plan: RawPlan): string {
  const json = JSON.stringify({
    pieces: plan.pieces.map((p) => Buffer.from(p).toString('base64')),
    gapMs: plan.gapMs ?? 0,
    after: plan.after ?? 'keep',
  });
  return `/__raw?plan=${Buffer.from(json).toString('base64url')}`;
}
