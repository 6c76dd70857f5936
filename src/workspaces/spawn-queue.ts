interface Waiter {
  wake: () => void;
  onPosition?: (position: number) => void;
}

/**
 * First-come, first-served limit on spawns in flight. A lecture hall's worth
 * of first requests queue here instead of all hitting the engine at once.
 */
export class SpawnQueue {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly limit: number) {}

  /**
   * Runs `task` once a slot is free. `onPosition` hears the place in line
   * while waiting (1 = next), so the starting page can show it.
   */
  async run<T>(task: () => Promise<T>, onPosition?: (position: number) => void): Promise<T> {
    if (this.active < this.limit) this.active++;
    else
      await new Promise<void>((wake) => {
        this.waiting.push({ wake, onPosition });
        onPosition?.(this.waiting.length);
      });
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** The slot passes straight to the next in line, so a newcomer cannot jump it. */
  private release(): void {
    const next = this.waiting.shift();
    if (!next) {
      this.active--;
      return;
    }
    next.wake();
    this.waiting.forEach((w, i) => w.onPosition?.(i + 1));
  }
}
