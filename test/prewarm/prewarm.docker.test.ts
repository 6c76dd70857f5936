/**
 * Pre-warm jobs on the real engine (issue #15): a roster of 8 with room for
 * 5, ready by a time 20 s ahead; the gateway restarted right after the job
 * was made; the workspaces held past the idle timeout until readyBy +
 * holdFor and stopped after it; a job cancelled before it started.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cleanupInstance, demoImage, requireEngine, uniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { pageLoad, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call } from '../support/http.js';

const scope = uniqueInstance('prewarm');
const stateDir = mkdtempSync(join(tmpdir(), 'wg-prewarm-state-'));
const IDLE_S = 3;
const HOLD_S = 8;
let env: Record<string, string>;
let staff: string;
const gateways: TestGateway[] = [];

interface JobAnswer {
  id: string;
  state: string;
  readyBy: string;
  holdUntil: string;
  beyondCapacity?: number;
  users: Array<{ user: string; state: string; reason: string | null; readyAt: string | null }>;
}

async function gateway(): Promise<TestGateway> {
  const gw = await startGateway(env);
  gateways.push(gw);
  return gw;
}

async function prewarm(gw: TestGateway, method: string, path = '', body?: unknown): Promise<{ status: number; body: JobAnswer }> {
  const res = await call(`${gw.url}/api/prewarm${path}`, {
    method,
    headers: { authorization: `Bearer ${staff}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function workspaces(gw: TestGateway): Promise<Map<string, { state: string; reason: string | null }>> {
  const res = await call(`${gw.url}/api/workspaces`, { headers: { authorization: `Bearer ${staff}` } });
  const list = (await res.json()).workspaces as Array<{ user: string; state: string; reason: string | null }>;
  return new Map(list.map((w) => [w.user, w]));
}

describe('pre-warm on the real engine', () => {
  beforeAll(async () => {
    await requireEngine();
    env = {
      ...dockerEnv(scope, await demoImage()),
      GATEWAY_MAX_RUNNING: '5',
      GATEWAY_IDLE_TIMEOUT: `${IDLE_S}s`,
      GATEWAY_STATE_DIR: stateDir,
    };
    staff = await token('prof', { claims: { is_staff: true } });
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await cleanupInstance(scope.instance);
  });

  it('8 users ready by a time 20 s ahead with room for 5: 5 ready in time, 3 reported; the job outlives a restart; held until readyBy + holdFor, then stopped', async () => {
    const roster = Array.from({ length: 8 }, (_, i) => `pw${i + 1}`);
    const first = await gateway();
    const created = await prewarm(first, 'POST', '', { users: roster, readyBy: new Date(Date.now() + 20_000).toISOString(), holdFor: `${HOLD_S}s` });
    expect(created.status).toBe(202);
    expect(created.body.beyondCapacity).toBe(3);
    const { id } = created.body;
    const readyBy = Date.parse(created.body.readyBy);
    const holdUntil = Date.parse(created.body.holdUntil);

    // The gateway goes away while the job is under way; the next one on the same state folder carries it on.
    await first.close();
    const gw = await gateway();
    const settled = await vi.waitFor(
      async () => {
        const { status, body } = await prewarm(gw, 'GET', `/${id}`);
        expect(status).toBe(200);
        expect(body.state).toBe('holding');
        return body;
      },
      { timeout: 30_000, interval: 250 },
    );
    expect(settled.users.map((u) => [u.user, u.state])).toEqual(roster.map((user, i) => [user, i < 5 ? 'ready' : 'skipped']));
    for (const u of settled.users.slice(0, 5)) expect(Date.parse(u.readyAt!), `${u.user} ready by readyBy`).toBeLessThanOrEqual(readyBy);
    for (const u of settled.users.slice(5)) expect(u.reason).toBe('no free place: all 5 workspace places (GATEWAY_MAX_RUNNING) are in use');
    // One container each for the five, none for the others.
    for (const [i, user] of roster.entries())
      expect(
        (await containersOf(scope.instance, user)).map((c) => c.State),
        user,
      ).toEqual(i < 5 ? ['running'] : []);

    // A pre-warmed student's first page load is the workspace, not the starting page.
    const page = await call(`${gw.url}/ws/pw1/`, { headers: pageLoad(await token('pw1')) });
    expect(page.status).toBe(200);
    expect(page.headers.get('x-workspace-status')).not.toBe('starting');

    // Held: still running well past the idle timeout, up to the end of the hold.
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(readyBy + IDLE_S * 1000), { timeout: 30_000, interval: 250 });
    const held = await workspaces(gw);
    for (const user of roster.slice(0, 5)) expect(held.get(user)?.state, `${user} held`).toBe('running');
    expect(Date.now()).toBeLessThan(holdUntil);

    // Then the idle rule applies again: all five stopped for idleness, after the hold, and the job is finished.
    const stopped = await vi.waitFor(
      async () => {
        const now = await workspaces(gw);
        for (const user of roster.slice(0, 5)) expect(now.get(user)?.state, user).toBe('stopped');
        return now;
      },
      { timeout: 30_000, interval: 250 },
    );
    expect(Date.now()).toBeGreaterThanOrEqual(holdUntil);
    for (const user of roster.slice(0, 5)) expect(stopped.get(user)?.reason).toBe('idle');
    expect((await prewarm(gw, 'GET', `/${id}`)).body.state).toBe('finished');
  }, 120_000);

  it('a job cancelled before its start time starts nothing and says so per user', async () => {
    const gw = gateways.at(-1)!;
    const { status, body } = await prewarm(gw, 'POST', '', {
      users: ['late1', 'late2'],
      readyBy: new Date(Date.now() + 3600_000).toISOString(),
      holdFor: '1m',
    });
    expect(status).toBe(202);
    expect(body.state).toBe('scheduled');
    const cancelled = await prewarm(gw, 'DELETE', `/${body.id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    expect(cancelled.body.users.map((u) => [u.state, u.reason])).toEqual([
      ['skipped', 'the job was cancelled'],
      ['skipped', 'the job was cancelled'],
    ]);
    // Cancelled stays cancelled after a restart.
    await gw.close();
    const next = await gateway();
    expect((await prewarm(next, 'GET', `/${body.id}`)).body.state).toBe('cancelled');
    expect(await containersOf(scope.instance, 'late1')).toEqual([]);
  });
});
