/**
 * fast-check with what CI needs: a fixed seed by default (FUZZ_SEED
 * overrides it, FUZZ_PATH replays one counterexample), a bounded time, and a
 * failure message that says how to replay and shows the shrunk case in a
 * readable form. FUZZ_REPORT=<file> appends every failure to that file;
 * FUZZ_TRACE=<file> appends each run's duration and case (for tuning).
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

export const DEFAULT_SEED = 20_251_111;

export interface FuzzOptions<T> {
  numRuns: number;
  /** The whole check, shrinking included, stops after this long (the runs done so far count). */
  timeLimitMs: number;
  describe: (value: T) => string;
  /** Added to a failure message (e.g. every crash the gateway had while shrinking). */
  context?: () => string;
}

export function fuzzSeed(): number {
  const raw = process.env.FUZZ_SEED;
  return raw === undefined || raw === '' ? DEFAULT_SEED : Number(raw);
}

/** Runs the property; throws a readable error on failure. */
export async function fuzz<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  property: (value: T) => Promise<void>,
  options: FuzzOptions<T>,
): Promise<fc.RunDetails<[T]>> {
  const seed = fuzzSeed();
  const trace = process.env.FUZZ_TRACE;
  const traced = trace
    ? async (value: T) => {
        const started = Date.now();
        let outcome = 'ok';
        try {
          await property(value);
        } catch (err) {
          outcome = 'FAILED';
          throw err;
        } finally {
          appendFileSync(trace, `${name}\t${Date.now() - started} ms\t${outcome}\t${options.describe(value).replaceAll('\n', ' | ')}\n`);
        }
      }
    : property;
  const details = (await fc.check(fc.asyncProperty(arbitrary, traced), {
    seed,
    numRuns: options.numRuns,
    path: process.env.FUZZ_PATH || undefined,
    endOnFailure: process.env.FUZZ_NO_SHRINK === '1',
    plugins: [fc.interruptAfterTimeLimit(options.timeLimitMs)],
  })) as fc.RunDetails<[T]>;
  if (!details.failed) return details;
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const message = [
    `fuzz "${name}" failed after ${details.numRuns} run(s) and ${details.numShrinks} shrink(s)${details.interrupted ? ' (interrupted by its time limit while shrinking)' : ''}.`,
    `Replay: FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ''}`,
    `Shrunk counterexample: ${details.counterexample ? options.describe(details.counterexample[0]) : '(none)'}`,
    `What went wrong: ${error}`,
    options.context?.() ?? '',
  ].join('\n');
  if (process.env.FUZZ_REPORT) appendFileSync(process.env.FUZZ_REPORT, `\n--- ${new Date().toISOString()}\n${message}\n`);
  throw new Error(message);
}
