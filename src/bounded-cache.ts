import { LRUCache } from 'lru-cache';

/**
 * An LRU cache that holds at most `entries` entries and allocates storage as
 * entries come. Given `max`, lru-cache allocates its arrays for all `max`
 * entries up front (its README's "Storage Bounds Safety"): the gateway's seven
 * caches held 6.5 MiB of an idle gateway's heap before the first user came.
 * Bounded by `maxSize` instead, every entry counting 1, they grow with use; a
 * cache hit costs the same (only `set` reads an entry's size).
 */
export function boundedCache<K extends NonNullable<unknown>, V extends NonNullable<unknown>>(entries: number, options: { ttl?: number } = {}): LRUCache<K, V> {
  return new LRUCache<K, V>({ maxSize: entries, sizeCalculation: () => 1, ...options });
}
