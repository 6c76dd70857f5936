import { EventEmitter, on } from 'node:events';

/**
 * Events a runtime raises itself (a child that exits, a test that says a
 * workspace crashed), handed to every `events(signal)` consumer as an async
 * iterable that ends quietly when the consumer's signal aborts.
 */
export class EventChannel<T> {
  private readonly emitter = new EventEmitter();

  emit(event: T): void {
    this.emitter.emit('event', event);
  }

  async *stream(signal: AbortSignal): AsyncIterable<T> {
    try {
      for await (const [event] of on(this.emitter, 'event', { signal })) yield event as T;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }
}
