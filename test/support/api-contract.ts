import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageLoad, startGateway, token, type TestGateway } from './gateway.js';
import { call, type CallInit, visit } from './http.js';

export interface ApiHarness {
  env: () => Record<string, string>;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

/** An API call as the LMS frontend or a script makes it. */
function api(gw: TestGateway, method: string, path: string, jwt?: string, init: CallInit = {}) {
  return call(`${gw.url}${path}`, {
    method,
    ...init,
    headers: { accept: 'application/json', ...(jwt ? { authorization: `Bearer ${jwt}` } : {}), ...init.headers },
  });
}

/** Every call of SPEC §5, with its refusals; run on the process runtime and on the real engine. */
export function apiContract(name: string, harness: ApiHarness): void {
  describe(`management API (${name})`, () => {
    let gw: TestGateway;
    let alice: string;
    let bob: string;
    let staff: string;
    const archiveDir = mkdtempSync(join(tmpdir(), 'wg-archive-'));

    beforeAll(async () => {
      await harness.setup?.();
      gw = await startGateway({ ...harness.env(), GATEWAY_ARCHIVE_DIR: archiveDir, GATEWAY_ALLOWED_ORIGINS: 'https://lms.example.edu' });
      [alice, bob, staff] = await Promise.all([token('alice'), token('bob'), token('staff', { claims: { is_staff: true } })]);
    });
    afterAll(async () => {
      await gw?.close();
      await harness.teardown?.();
    });

    it('POST /api/users/workspace/create/ answers a launch link and the stable URL, starts the workspace and sets the session cookie', async () => {
      const res = await api(gw, 'POST', '/api/users/workspace/create/', alice);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.url).toMatch(new RegExp(`^${gw.url}/api/launch/[A-Za-z0-9_-]{32}$`));
      expect(body.workspace_url).toBe(`${gw.url}/ws/alice/`);
      expect(['running', 'starting']).toContain(body.status);
      const cookie = res.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^workspace_session=/);
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Lax');
      expect(cookie).toContain('Path=/');
      expect(cookie).not.toContain('Secure'); // plain http here
      expect(cookie).not.toContain(alice); // the LMS token is not the cookie
      // The session it set opens the workspace.
      const session = cookie.split(';')[0]!;
      const page = { cookie: session, accept: 'text/html', 'sec-fetch-mode': 'navigate' };
      expect((await visit(`${gw.url}/ws/alice/`, { headers: page })).status).toBe(200);
      // The launch link works once, in a browser without any cookie, and says where to go.
      const launched = await visit(body.url);
      expect(launched.status).toBe(303);
      expect(launched.headers.get('location')).toBe('/ws/alice/');
      expect(launched.headers.get('set-cookie')).toMatch(/^workspace_session=/);
      expect((await visit(body.url)).status).toBe(400);
    });

    it("GET /api/workspaces/me describes the caller's workspace", async () => {
      const res = await api(gw, 'GET', '/api/workspaces/me', alice);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({ user: 'alice', state: 'running', url: `${gw.url}/ws/alice/` });
      expect(new Date(body.startedAt).getTime()).toBeGreaterThan(0);
      expect(new Date(body.lastActivity).getTime()).toBeGreaterThan(0);
      const none = await (await api(gw, 'GET', '/api/workspaces/me', await token('newcomer'))).json();
      expect(none).toMatchObject({ user: 'newcomer', state: 'absent', startedAt: null });
    });

    it('start and stop: the user themself or an admin, nobody else', async () => {
      expect((await api(gw, 'POST', '/api/workspaces/bob/start', alice)).status).toBe(403);
      const started = await api(gw, 'POST', '/api/workspaces/bob/start', bob);
      expect(started.status).toBe(200);
      expect((await started.json()).state).toBe('running');
      expect((await api(gw, 'POST', '/api/workspaces/bob/stop', alice)).status).toBe(403);
      const stopped = await api(gw, 'POST', '/api/workspaces/bob/stop', staff);
      expect(stopped.status).toBe(200);
      expect(await stopped.json()).toMatchObject({ user: 'bob', state: 'stopped', reason: 'stopped by admin staff' });
      const me = await api(gw, 'POST', '/api/workspaces/me/start', bob);
      expect((await me.json()).state).toBe('running');
    });

    it('move is an admin call, and a runtime with one host says there is nowhere to move to', async () => {
      expect((await api(gw, 'POST', '/api/workspaces/bob/move?node=n2', bob)).status).toBe(403);
      const missing = await api(gw, 'POST', '/api/workspaces/bob/move', staff);
      expect(missing.status).toBe(400);
      const oneHost = await api(gw, 'POST', '/api/workspaces/bob/move?node=n2', staff);
      expect(oneHost.status).toBe(501);
      expect((await oneHost.json()).error).toBe('not_supported');
    });

    it('GET /api/workspaces lists every workspace for admins only', async () => {
      expect((await api(gw, 'GET', '/api/workspaces', alice)).status).toBe(403);
      const res = await api(gw, 'GET', '/api/workspaces', staff);
      expect(res.status).toBe(200);
      const { workspaces } = await res.json();
      const users = workspaces.map((w: { user: string }) => w.user).sort();
      expect(users).toEqual(expect.arrayContaining(['alice', 'bob']));
      expect(workspaces.find((w: { user: string }) => w.user === 'alice')).toMatchObject({ state: 'running', lastActivity: expect.any(String) });
    });

    it('backup streams a tar.gz to the owner; restore and delete are for admins; delete archives first', async () => {
      const put = await visit(`${gw.url}/ws/alice/__file?name=essay.txt`, { method: 'PUT', headers: pageLoad(alice), body: 'my essay' });
      expect(put.status).toBe(201);
      expect((await api(gw, 'GET', '/api/workspaces/alice/backup', bob)).status).toBe(403);
      const backup = await api(gw, 'GET', '/api/workspaces/alice/backup', alice);
      expect(backup.status).toBe(200);
      expect(backup.headers.get('content-type')).toBe('application/gzip');
      expect(backup.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

      expect((await api(gw, 'PUT', '/api/workspaces/carol/backup', alice, { body: backup.body })).status).toBe(403);
      const restore = await api(gw, 'PUT', '/api/workspaces/carol/backup', staff, { body: backup.body, headers: { 'content-type': 'application/gzip' } });
      expect(restore.status).toBe(200);
      const carol = await token('carol');
      const copy = await visit(`${gw.url}/ws/carol/__file?name=essay.txt`, { headers: pageLoad(carol) });
      expect(await copy.text()).toBe('my essay');
      const garbage = await api(gw, 'PUT', '/api/workspaces/carol/backup', staff, { body: 'not a tarball' });
      expect(garbage.status).toBe(400);
      expect((await garbage.json()).error).toBe('bad_archive');

      expect((await api(gw, 'DELETE', '/api/workspaces/alice?volume=true', alice)).status).toBe(403);
      const removed = await api(gw, 'DELETE', '/api/workspaces/alice?volume=true', staff);
      expect(removed.status).toBe(200);
      const body = await removed.json();
      expect(body).toMatchObject({ user: 'alice', state: 'absent', volumeDeleted: true });
      expect(readdirSync(archiveDir).filter((f) => f.startsWith('alice-') && f.endsWith('.tar.gz'))).toHaveLength(1);
      const gone = await api(gw, 'GET', '/api/workspaces/alice/backup', staff);
      expect(gone.status).toBe(404);
    });

    it('refuses bad user ids, unknown calls, wrong methods, missing tokens and cross-site requests', async () => {
      const badUser = await api(gw, 'POST', '/api/workspaces/..%2Fbob/start', staff);
      expect(badUser.status).toBe(400);
      expect((await badUser.json()).error).toBe('bad_user');
      expect((await api(gw, 'POST', '/api/nothing', alice)).status).toBe(404);
      const wrong = await api(gw, 'GET', '/api/workspaces/alice/start', alice);
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get('allow')).toBe('POST');
      const anonymous = await api(gw, 'POST', '/api/users/workspace/create/');
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({ error: 'token_missing', message: expect.any(String) });
      // A page on another site posting with the student's cookie.
      const csrf = await call(`${gw.url}/api/workspaces/alice/stop`, {
        method: 'POST',
        headers: { cookie: `workspace_token=${alice}`, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', accept: 'application/json' },
      });
      expect(csrf.status).toBe(403);
      expect((await csrf.json()).error).toBe('cross_site');
      const sneaky = await call(`${gw.url}/api/workspaces/alice/stop`, {
        method: 'POST',
        headers: { cookie: `workspace_token=${alice}`, 'sec-fetch-site': 'cross-site', accept: 'application/json' },
      });
      expect(sneaky.status).toBe(403);
      // The LMS frontend is an allowed origin.
      const lms = await call(`${gw.url}/api/users/workspace/create/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bob}`, origin: 'https://lms.example.edu', 'sec-fetch-site': 'cross-site', accept: 'application/json' },
      });
      expect(lms.status).toBe(200);
    });
  });
}
