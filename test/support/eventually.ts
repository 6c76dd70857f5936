import { vi } from 'vitest';

/**
 * The first value `probe` gives that is not undefined, asked again every
 * `interval` ms until `timeout` (vitest's waitFor underneath); the failure
 * says what was awaited.
 */
export function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeout = 20_000, interval = 100): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (value === undefined) throw new Error(`timed out waiting for ${what}`);
      return value;
    },
    { timeout, interval },
  );
}
