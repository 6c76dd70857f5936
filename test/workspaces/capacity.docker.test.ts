import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../src/runtimes/engine/labels.js';
import { cleanupInstance, demoImage, engine, requireEngine, slowDemoImage, uniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { pageLoad, startGateway, token } from '../support/gateway.js';
import { call, visit } from '../support/http.js';

const queueScope = uniqueInstance('spawn-queue');
const fullScope = uniqueInstance('capacity-full');
const BOOT_MS = 1500;

/** Container `create` events of one instance, as the engine reports them. */
async function watchCreates(instance: string, signal: AbortSignal): Promise<Array<{ user: string; at: number }>> {
  const seen: Array<{ user: string; at: number }> = [];
  const stream = (await engine().getEvents({
    filters: { type: ['container'], event: ['create'], label: [`${LABEL.instance}=${instance}`] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines.filter(Boolean)) {
      const event = JSON.parse(line);
      seen.push({ user: event.Actor.Attributes[LABEL.user], at: Number(BigInt(event.timeNano) / 1_000_000n) });
    }
  });
  signal.addEventListener('abort', () => stream.destroy());
  return seen;
}

describe('spawn queue and capacity on the real engine', () => {
  beforeAll(async () => {
    await requireEngine();
  });
  afterAll(async () => {
    await cleanupInstance(queueScope.instance);
    await cleanupInstance(fullScope.instance);
  });

  it('runs at most 2 spawns at a time with MAX_CONCURRENT_SPAWNS=2, and all 6 users arrive', async () => {
    const image = await slowDemoImage(BOOT_MS);
    const gw = await startGateway({ ...dockerEnv(queueScope, image), GATEWAY_MAX_CONCURRENT_SPAWNS: '2' });
    const stop = new AbortController();
    const creates = await watchCreates(queueScope.instance, stop.signal);
    try {
      const users = ['s1', 's2', 's3', 's4', 's5', 's6'];
      const answers = await Promise.all(users.map(async (u) => visit(`${gw.url}/ws/${u}/__echo`, { headers: pageLoad(await token(u)) })));
      expect(answers.map((r) => r.status)).toEqual(Array(6).fill(200));
      expect(await Promise.all(answers.map(async (r) => (await r.json()).user))).toEqual(users);
      await new Promise((r) => setTimeout(r, 300));
      const times = creates.map((c) => c.at).sort((a, b) => a - b);
      expect(times).toHaveLength(6);
      // A spawn holds its slot until the editor answers (BOOT_MS after start), so the
      // third create can only follow the first spawn's end, the fifth the third's.
      for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 2]!).toBeGreaterThanOrEqual(BOOT_MS * 0.8);
      for (const u of users) expect(await containersOf(queueScope.instance, u)).toHaveLength(1);
    } finally {
      stop.abort();
      await gw.close();
    }
  });

  it('gives the fourth user the "full" page with MAX_RUNNING=3, not a hang', async () => {
    const gw = await startGateway({ ...dockerEnv(fullScope, await demoImage()), GATEWAY_MAX_RUNNING: '3' });
    try {
      for (const u of ['f1', 'f2', 'f3']) expect((await visit(`${gw.url}/ws/${u}/`, { headers: pageLoad(await token(u)) })).status).toBe(200);
      const started = Date.now();
      const fourth = await call(`${gw.url}/ws/f4/`, { headers: pageLoad(await token('f4')) });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(fourth.status).toBe(503);
      expect(fourth.headers.get('retry-after')).toBeTruthy();
      expect(await fourth.text()).toContain('All 3 workspace places are in use');
      expect(await containersOf(fullScope.instance, 'f4')).toHaveLength(0);
    } finally {
      await gw.close();
    }
  });
});
