import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { EngineClient } from './engine-client.js';
import { toEngineError } from './engine-errors.js';

/** One line of the engine's event stream, as far as the gateway reads it. */
export interface EngineEvent {
  Type?: string;
  Action?: string;
  status?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** An engine event, or `gap`: the stream broke and came back (see engineEvents). */
export type EngineStreamItem = { kind: 'event'; event: EngineEvent } | { kind: 'gap' };

const CONNECT_TIMEOUT_MS = 10_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;

/**
 * The engine's events matching `filters` until `signal` aborts, across
 * broken streams: it reconnects with backoff and asks the engine to replay
 * what happened meanwhile (`since` = the last event seen, to the
 * nanosecond), dropping what was already seen. A reconnect so normally
 * misses nothing, but the engine replays only the events it still holds
 * (Docker keeps the last 256), and before the first event there is no
 * resume point at all; so every reconnect yields `gap` and the consumer
 * lists once. An engine that is down keeps it quiet, not failing.
 */
export async function* engineEvents(
  client: EngineClient,
  filters: Record<string, string[]>,
  signal: AbortSignal,
  logger: Logger,
): AsyncIterable<EngineStreamItem> {
  let backoff = FIRST_BACKOFF_MS;
  let lastNano = 0n;
  let connectedBefore = false;
  while (!signal.aborted) {
    try {
      const stream = await openStream(client.docker, filters, signal, lastNano);
      backoff = FIRST_BACKOFF_MS;
      if (connectedBefore) yield { kind: 'gap' };
      connectedBefore = true;
      for await (const { event, nano } of readLines(stream, logger)) {
        if (nano !== undefined) {
          if (nano <= lastNano) continue;
          lastNano = nano;
        }
        yield { kind: 'event', event };
      }
      if (!signal.aborted) logger.warn('engine event stream ended; reconnecting');
    } catch (err) {
      if (signal.aborted) return;
      logger.warn({ err: toEngineError('events', err) }, 'engine event stream failed; reconnecting');
    }
    // Ends early (rejecting, ignored) when the consumer aborts.
    await sleep(backoff, undefined, { signal }).catch(() => {});
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

async function openStream(docker: Docker, filters: Record<string, string[]>, signal: AbortSignal, sinceNano: bigint): Promise<NodeJS.ReadableStream> {
  // Not EngineClient.call(): its deadline would also cut the long-lived
  // stream. This deadline only covers getting the response headers.
  const controller = new AbortController();
  const forward = () => controller.abort();
  signal.addEventListener('abort', forward, { once: true });
  const timer = setTimeout(() => controller.abort(), CONNECT_TIMEOUT_MS);
  // `since` as a string keeps nanoseconds, which the typed number would not.
  const options: Omit<Docker.GetEventsOptions, 'since'> & { since?: string } = { filters, abortSignal: controller.signal };
  if (sinceNano > 0n) options.since = nanoTimestamp(sinceNano);
  try {
    const stream = (await docker.getEvents(options as Docker.GetEventsOptions)) as NodeJS.ReadableStream;
    const release = () => signal.removeEventListener('abort', forward);
    stream.once('end', release);
    stream.once('error', release);
    stream.once('close', release);
    return stream;
  } catch (err) {
    signal.removeEventListener('abort', forward);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Newline-delimited JSON; a chunk may end mid-line (or mid-character).
 * `timeNano` is read from the text because it does not fit a double.
 */
async function* readLines(stream: NodeJS.ReadableStream, logger: Logger): AsyncGenerator<{ event: EngineEvent; nano?: bigint }> {
  stream.setEncoding('utf8');
  let pending = '';
  for await (const chunk of stream) {
    pending += String(chunk);
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (!line) continue;
      try {
        const event = JSON.parse(line) as EngineEvent;
        const nano = /"timeNano":\s*(\d+)/.exec(line)?.[1];
        yield nano === undefined ? { event } : { event, nano: BigInt(nano) };
      } catch {
        logger.warn({ line: line.slice(0, 200) }, 'ignoring an engine event that is not JSON');
      }
    }
  }
}

/** Docker reads `since` as seconds with an optional nanosecond fraction. */
function nanoTimestamp(nano: bigint): string {
  return `${nano / 1_000_000_000n}.${(nano % 1_000_000_000n).toString().padStart(9, '0')}`;
}
