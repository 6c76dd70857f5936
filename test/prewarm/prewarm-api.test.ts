/**
 * The pre-warm calls over HTTP, on the process runtime (real workspace
 * processes): who may call, what bad input gets, and a pre-warmed student's
 * first page load. The engine's version is prewarm.docker.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pageLoad, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call } from '../support/http.js';

let gw: TestGateway;
let staff: string;
let student: string;

function prewarm(method: string, path: string, jwt: string, body?: unknown, headers: Record<string, string> = {}) {
  return call(`${gw.url}/api/prewarm${path}`, {
    method,
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const soon = (s: number) => new Date(Date.now() + s * 1000).toISOString();

beforeAll(async () => {
  gw = await startGateway({ GATEWAY_PREWARM_MAX_USERS: '10', GATEWAY_PREWARM_MAX_HOLD: '1h' });
  [staff, student] = await Promise.all([token('prof', { claims: { is_staff: true } }), token('sam')]);
});
afterAll(() => gw?.close());

describe('POST /api/prewarm', () => {
  it('is for admins only', async () => {
    const res = await prewarm('POST', '', student, { users: ['sam'], readyBy: soon(0), holdFor: '1m' });
    expect(res.status).toBe(403);
    expect((await res.json()).error).toBe('admin_only');
    expect((await call(`${gw.url}/api/prewarm`, { method: 'POST' })).status).toBe(401);
  });

  it.each([
    ['broken JSON', '{"users": [', 400, 'bad_json'],
    ['invalid user ids, listed', { users: ['ok', 'no/slash'], readyBy: soon(60), holdFor: '1m' }, 400, 'bad_user'],
    ['more users than the maximum', { users: Array.from({ length: 11 }, (_, i) => `u${i}`), readyBy: soon(60), holdFor: '1m' }, 400, 'bad_request'],
    ['a hold beyond the maximum', { users: ['a'], readyBy: soon(60), holdFor: '2h' }, 400, 'bad_request'],
    ['a time not in ISO form', { users: ['a'], readyBy: 'Tue, 01 Dec 2026 09:00:00 GMT', holdFor: '1m' }, 400, 'bad_request'],
    ['a time in the past', { users: ['a'], readyBy: soon(-3600), holdFor: '1m' }, 400, 'prewarm_in_past'],
  ])('refuses %s with a clear 400 and makes no job', async (_name, body, status, code) => {
    const res = await prewarm('POST', '', staff, body);
    expect(res.status).toBe(status);
    const answer = await res.json();
    expect(answer.error).toBe(code);
    expect(answer.message.length).toBeGreaterThan(10);
    if (code === 'bad_user') expect(answer.message).toContain('"no/slash"');
    expect((await (await prewarm('GET', '', staff)).json()).jobs).toEqual([]);
  });

  it('refuses a body that is not JSON and one larger than the API limit', async () => {
    expect((await prewarm('POST', '', staff, 'users=a', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(400);
    expect((await prewarm('POST', '', staff, JSON.stringify({ users: ['a'.repeat(70_000)] }))).status).toBe(413);
  });

  it('answers 202 with the job, reports each user, and a pre-warmed first page load is served at once', async () => {
    const res = await prewarm('POST', '', staff, { users: ['ana', 'ben'], readyBy: soon(0), holdFor: '10m' });
    expect(res.status).toBe(202);
    const job = await res.json();
    expect(job).toMatchObject({ id: expect.stringMatching(/^pw_/), by: 'prof', beyondCapacity: 0, note: null });
    expect(job.users.map((u: { user: string }) => u.user)).toEqual(['ana', 'ben']);
    expect(Date.parse(job.holdUntil) - Date.parse(job.readyBy)).toBe(600_000);

    const done = await vi.waitFor(
      async () => {
        const body = await (await prewarm('GET', `/${job.id}`, staff)).json();
        expect(body.state).toBe('holding');
        return body;
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(done.counts).toEqual({ pending: 0, starting: 0, ready: 2, failed: 0, skipped: 0 });
    expect(done.users.every((u: { readyAt: string | null }) => u.readyAt !== null)).toBe(true);

    // Ana's first page load is the workspace itself, not the starting page.
    const page = await call(`${gw.url}/ws/ana/`, { headers: pageLoad(await token('ana')) });
    expect(page.status).toBe(200);
    expect(page.headers.get('x-workspace-status')).not.toBe('starting');
    expect(await page.text()).toContain('ana');

    // Listed without the users; an unknown id is a 404; DELETE of a held job ends its hold.
    const list = (await (await prewarm('GET', '', staff)).json()).jobs;
    expect(list.map((j: { id: string; users?: unknown }) => [j.id, j.users])).toEqual([[job.id, undefined]]);
    expect((await prewarm('GET', '/pw_nope', staff)).status).toBe(404);
    const cancelled = await (await prewarm('DELETE', `/${job.id}`, staff)).json();
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.counts.ready).toBe(2);
    expect(gw.app.prewarmer.get(job.id).state).toBe('cancelled');
  });
});
