import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageLoad, scriptRequest, SECRET, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call, visit } from '../support/http.js';

/** What an operator typically has in the gateway's environment besides the JWT secret. */
const GATEWAY_ONLY = {
  GATEWAY_JWT_SECRET: SECRET,
  GATEWAY_SESSION_SECRET: 'session-secret-4f1c9a7e',
  LMS_DATABASE_PASSWORD: 'db-password-93b2d0c1',
  AWS_SECRET_ACCESS_KEY: 'aws-key-6e8f1d2a',
};

/**
 * Finding 5 (issue #11): process-runtime workspaces were spawned with the
 * gateway's whole environment, so code in any workspace read
 * GATEWAY_JWT_SECRET and could sign a token for any user or an admin. They
 * now get a minimal environment of their own.
 */
describe("a process-runtime workspace's environment", () => {
  const saved = new Map<string, string | undefined>();
  let gw: TestGateway;

  beforeAll(async () => {
    // In the gateway's own environment, as `GATEWAY_JWT_SECRET=… node dist/main.js` would have it.
    // TZ too, to see one of the allowed variables passed on.
    for (const [name, value] of Object.entries({ ...GATEWAY_ONLY, TZ: process.env.TZ ?? 'UTC' })) {
      saved.set(name, process.env[name]);
      process.env[name] = value;
    }
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw?.close();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("holds none of the gateway's variables or secrets, only what the workspace needs, and others are served meanwhile", async () => {
    const [alice, bob] = await Promise.all([token('alice'), token('bob')]);
    const res = await visit(`${gw.url}/ws/alice/__env`, { headers: pageLoad(alice) });
    expect(res.status).toBe(200);
    const text = await res.text();
    const env = JSON.parse(text) as Record<string, string>;

    expect(Object.keys(env).filter((name) => name.startsWith('GATEWAY_'))).toEqual([]);
    for (const secret of Object.values(GATEWAY_ONLY)) expect(text).not.toContain(secret);
    expect(Object.keys(env)).not.toContain('LMS_DATABASE_PASSWORD');
    expect(Object.keys(env)).not.toContain('AWS_SECRET_ACCESS_KEY');

    expect(env.WORKSPACE_USER).toBe('alice');
    expect(Number(env.PORT)).toBeGreaterThan(0);
    expect(env.HOST).toBe('127.0.0.1');
    expect(env.HOME).toMatch(/\/alice$/);
    expect(env.WORKSPACE_DIR).toBe(env.HOME);
    expect(env.PATH).toBe(process.env.PATH);
    expect(env.TZ).toBe(process.env.TZ);
    // Nothing beyond the list (a shell may add PWD, SHLVL and `_` of its own).
    const allowed = new Set([
      'PATH',
      'LANG',
      'LC_ALL',
      'TZ',
      'TMPDIR',
      'PORT',
      'HOST',
      'WORKSPACE_USER',
      'HOME',
      'WORKSPACE_DIR',
      'PWD',
      'OLDPWD',
      'SHLVL',
      '_',
    ]);
    expect(Object.keys(env).filter((name) => !allowed.has(name))).toEqual([]);

    // The gateway goes on serving: bob's workspace starts and answers as his.
    expect((await visit(`${gw.url}/ws/bob/`, { headers: pageLoad(bob) })).status).toBe(200);
    const echo = await call(`${gw.url}/ws/bob/__echo`, { headers: scriptRequest(bob) });
    expect((await echo.json()).user).toBe('bob');
  });
});
