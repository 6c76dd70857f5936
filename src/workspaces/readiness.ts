import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Endpoint } from '../runtimes/runtime.js';

/** One HTTP request to the editor; any answer at all means it is listening. */
export function answersHttp(endpoint: Endpoint, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const target = 'socketPath' in endpoint ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
    const req = request({ ...target, path: '/', method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      done(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
    req.end();
  });
}

/**
 * Polls until the editor answers or the deadline passes: every 25 ms for the
 * first second (a small editor boots in a few hundred ms, and every ms of
 * noticing late is the student's), then growing to 500 ms so a hundred slow
 * spawns do not flood the engine's network.
 */
export async function waitUntilAnswering(endpoint: Endpoint, deadline: number, signal?: AbortSignal): Promise<boolean> {
  const started = Date.now();
  let interval = 25;
  while (Date.now() < deadline && !signal?.aborted) {
    if (await answersHttp(endpoint, Math.min(1000, Math.max(1, deadline - Date.now())))) return true;
    await sleep(interval);
    if (Date.now() - started > 1000) interval = Math.min(interval * 1.5, 500);
  }
  return false;
}
