/**
 * A real LMS for the tests: the stock Django + DRF + SimpleJWT project in
 * test/lms, on its own sqlite database and freshly made keys, served by
 * Django's runserver. Needs Debian's python3-django* packages (scripts/ensure-engine.sh).
 */
import { startGroup } from './process-group.js';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './http.js';

// Not `python3` from PATH: another Python there lacks Django.
const PYTHON = '/usr/bin/python3';
const PROJECT = fileURLToPath(new URL('../lms/', import.meta.url));

export interface LmsOptions {
  algorithm: 'HS256' | 'RS256';
  accessLifetimeSeconds: number;
  /** The gateway's base URL for the page's "Launch Workspace"; '' (default) is the page's own origin. */
  gatewayUrl?: string;
  /** Address runserver binds; 127.0.0.1 unless a container must reach it. */
  host?: string;
}

export interface LmsUser {
  name: string;
  password: string;
  /** Django's user id: the `user_id` claim. */
  id: number;
}

export interface Lms {
  url: string;
  port: number;
  /** The HS256 signing secret. */
  secret?: string;
  /** The RS256 verifying key (SPKI PEM). */
  publicKeyPem?: string;
  /** alice and bob (students), staff (is_staff). */
  users: LmsUser[];
  /** Signs in through the real /api/token/. */
  token(user: string, password: string): Promise<{ access: string; refresh: string }>;
  stop(): Promise<void>;
}

export async function startLms(options: LmsOptions): Promise<Lms> {
  const dir = mkdtempSync(join(tmpdir(), 'wg-lms-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONDONTWRITEBYTECODE: '1', // no __pycache__ in the source tree
    PYTHONUNBUFFERED: '1',
    DJANGO_SETTINGS_MODULE: 'lms.settings',
    LMS_DB: join(dir, 'lms.sqlite3'),
    LMS_JWT_ALGORITHM: options.algorithm,
    LMS_ACCESS_LIFETIME_SECONDS: String(options.accessLifetimeSeconds),
    LMS_GATEWAY_URL: options.gatewayUrl ?? '',
  };
  let secret: string | undefined;
  let publicKeyPem: string | undefined;
  if (options.algorithm === 'HS256') {
    secret = randomBytes(32).toString('base64url');
    env.LMS_JWT_SIGNING_KEY = secret;
  } else {
    const pair = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    publicKeyPem = pair.publicKey;
    env.LMS_JWT_PRIVATE_KEY_FILE = join(dir, 'private.pem');
    env.LMS_JWT_PUBLIC_KEY_FILE = join(dir, 'public.pem');
    writeFileSync(env.LMS_JWT_PRIVATE_KEY_FILE, pair.privateKey, { mode: 0o600 });
    writeFileSync(env.LMS_JWT_PUBLIC_KEY_FILE, pair.publicKey);
  }

  const manage = (...args: string[]) => {
    const run = spawnSync(PYTHON, ['manage.py', ...args], { cwd: PROJECT, env, encoding: 'utf8', timeout: 60_000 });
    if (run.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`LMS: manage.py ${args.join(' ')} failed (${run.error?.message ?? `exit ${run.status}`}):\n${lastLines(run.stderr ?? '')}`);
    }
    return run.stdout;
  };
  manage('migrate', '--verbosity', '0');
  const users: LmsUser[] = JSON.parse(manage('create_test_users'));

  const host = options.host ?? '127.0.0.1';
  const port = await freePort();
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  // Its own process group, so stop takes runserver and anything it started.
  const server = startGroup(PYTHON, ['manage.py', 'runserver', `${host}:${port}`, '--noreload'], {
    cwd: PROJECT,
    env,
  });

  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  while (!(await answers(url + '/'))) {
    if (server.exit() || Date.now() > deadline) {
      await stop();
      const why = server.exit() ? ` (${server.exit()})` : '';
      throw new Error(`LMS: runserver on ${url} did not come up within 30 s${why}; last lines of its stderr:\n${lastLines(server.stderr())}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  const token = async (user: string, password: string) => {
    const res = await fetch(url + '/api/token/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: user, password }),
    });
    if (!res.ok) throw new Error(`LMS: sign-in as ${user} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as { access: string; refresh: string };
  };

  return { url, port, secret, publicKeyPem, users, token, stop };
}

function answers(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    (res) => res.ok,
    () => false,
  );
}

function lastLines(text: string, n = 20): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
