import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { builtGateway } from '../support/gateway-build.js';
import { GatewayProcess } from '../support/gateway-process.js';
import { SECRET } from '../support/gateway.js';
import { call, freePort } from '../support/http.js';

const CRASH_ON_SIGUSR2 = fileURLToPath(new URL('../support/crash-leader-on-sigusr2.mjs', import.meta.url));

/** The leader's private folders (`workspace-gateway-XXXXXX`, holding leader.sock) under a temp dir. */
const leaderFolders = (dir: string) => readdirSync(dir).filter((name) => /^workspace-gateway-[A-Za-z0-9]{6}$/.test(name));

/** How long a leader and its two workers get to come up. */
const STARTUP = { timeout: 20_000, interval: 100 };

/**
 * Finding 8 (issue #11): a leader that crashed left its private folder (and
 * the dead socket in it) in the temp dir, one more for every crash. It is now
 * removed on the way out however the process ends (but SIGKILL), as well as
 * on a clean stop.
 */
describe("the cluster leader's private folder", () => {
  const temps: string[] = [];
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  });
  const newTemp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'wg-leader-tmp-'));
    temps.push(dir);
    return dir;
  };

  it('is gone after the leader crashed with an exception nobody caught', async () => {
    const temp = newTemp();
    const port = await freePort();
    let output = '';
    const leader = spawn(process.execPath, ['--import', CRASH_ON_SIGUSR2, await builtGateway()], {
      env: {
        ...process.env,
        TMPDIR: temp,
        GATEWAY_WORKERS: '2',
        GATEWAY_RUNTIME: 'process',
        GATEWAY_DATA_ROOT: join(temp, 'data'),
        GATEWAY_JWT_SECRET: SECRET,
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_PORT: String(port),
        GATEWAY_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(leader);
    leader.stdout!.on('data', (c: Buffer) => (output += c));
    leader.stderr!.on('data', (c: Buffer) => (output += c));
    const exited = new Promise<number | null>((done) => leader.once('exit', (code) => done(code)));

    await vi.waitFor(async () => {
      const up = await call(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status === 200,
        () => false,
      );
      expect(up, output).toBe(true);
    }, STARTUP);
    const [folder] = leaderFolders(temp);
    expect(folder, output).toBeDefined();
    expect(existsSync(join(temp, folder!, 'leader.sock'))).toBe(true);

    leader.kill('SIGUSR2');
    expect(await exited).toBe(1);
    expect(output).toContain('simulated leader crash');
    expect(leaderFolders(temp)).toEqual([]);
  }, 120_000);

  it('is gone after a clean stop (SIGTERM), as before', async () => {
    const temp = newTemp();
    const gateway = await GatewayProcess.start({ workers: 2, port: await freePort(), env: { TMPDIR: temp } });
    // Its signal handlers are set once it logged that it listens (the workers may answer a moment before).
    await vi.waitFor(() => expect(gateway.log().some((line) => line.includes('"workers":2') && line.includes('gateway listening'))).toBe(true), STARTUP);
    expect(leaderFolders(temp)).toHaveLength(1);
    await gateway.stop();
    expect(gateway.exit?.code).toBe(0);
    expect(leaderFolders(temp)).toEqual([]);
  }, 120_000);
});
