/**
 * Listeners of one kind of news, typed by what they are told. Registering
 * returns the way to unregister, so a short-lived listener (a progress
 * stream) cannot forget which function it added.
 */
export class Listeners<Args extends unknown[]> {
  private readonly listeners = new Set<(...args: Args) => void>();

  add(listener: (...args: Args) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  tell(...args: Args): void {
    for (const listener of this.listeners) listener(...args);
  }
}
