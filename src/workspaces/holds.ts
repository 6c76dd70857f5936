/**
 * Workspaces kept running until a time whatever their activity: a pre-warmed
 * roster until its lecture is under way (SPEC §8). The idle rule does not
 * stop them and making room never picks them. Several holders may hold one
 * workspace; the latest end counts.
 */
export class WorkspaceHolds {
  private readonly byUser = new Map<string, Map<string, number>>();

  hold(user: string, holder: string, until: number): void {
    let holders = this.byUser.get(user);
    if (!holders) this.byUser.set(user, (holders = new Map()));
    holders.set(holder, until);
  }

  /** Every hold of `holder` ends now (a cancelled or finished job). */
  releaseAll(holder: string): void {
    for (const [user, holders] of this.byUser) {
      holders.delete(holder);
      if (holders.size === 0) this.byUser.delete(user);
    }
  }

  /** Epoch ms until which `user`'s workspace is held, or undefined when no hold lasts past `now`. */
  until(user: string, now = Date.now()): number | undefined {
    const holders = this.byUser.get(user);
    if (!holders) return undefined;
    let latest: number | undefined;
    for (const [holder, until] of holders) {
      if (until <= now) holders.delete(holder);
      else if (latest === undefined || until > latest) latest = until;
    }
    if (holders.size === 0) this.byUser.delete(user);
    return latest;
  }
}
