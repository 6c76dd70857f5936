/**
 * Plans for the demo workspace's `/__raw` endpoint (plain requests and
 * upgrades): the workspace writes the given bytes on its socket as they are,
 * then closes, resets, holds or keeps the connection. What a student's own
 * process can answer on their port.
 */
export type AfterAnswer = 'close' | 'reset' | 'hold' | 'keep';

/**
 * Bytes written `times` over, so an answer can be larger than the URL that
 * carries it (huge heads, 1xx storms).
 */
export interface Segment {
  text: string;
  times: number;
}

/** Bytes as they go over the wire: a string is latin1 (a character a byte), so a plan reads as what was sent. */
export type RawPiece = string | Buffer | Segment;

export interface RawPlan {
  pieces: RawPiece[];
  gapMs?: number;
  after?: AfterAnswer;
}

const base64 = (bytes: string | Buffer) => (typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes).toString('base64');

/** The path (after `/ws/<user>`) that makes the workspace answer with `plan`. */
export function rawAnswerPath(plan: RawPlan): string {
  const pieces = plan.pieces.map((p) => (typeof p === 'string' || Buffer.isBuffer(p) ? base64(p) : p.times === 1 ? base64(p.text) : [base64(p.text), p.times]));
  const json = JSON.stringify({ pieces, gapMs: plan.gapMs ?? 0, after: plan.after ?? 'keep' });
  return `/__raw?plan=${Buffer.from(json).toString('base64url')}`;
}
