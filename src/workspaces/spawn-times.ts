/** How many recent spawns the estimate looks at: enough to smooth a slow one, few enough to follow a change of image. */
const KEPT = 50;

/**
 * The durations of recent successful spawns (request to editor answering), so
 * a pre-warm can start early enough: its estimate is their 90th percentile.
 */
export class SpawnTimes {
  private readonly recent: number[] = [];

  record(ms: number): void {
    this.recent.push(ms);
    if (this.recent.length > KEPT) this.recent.shift();
  }

  /** The 90th percentile of the recent spawns in ms, or undefined before the first. */
  estimateMs(): number | undefined {
    if (this.recent.length === 0) return undefined;
    const sorted = [...this.recent].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))];
  }
}
