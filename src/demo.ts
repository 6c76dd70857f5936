#!/usr/bin/env node
/**
 * `npm run demo`: the gateway with a local default, for a person to try at once.
 * Uses the Docker Engine when one answers (with the demo workspace image built
 * locally), otherwise the `process` runtime, and says which. A stand-in for the
 * LMS on the next port signs a development token, sets the cookie and sends the
 * browser to /ws/me — the same hand-off the real LMS does.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { SignJWT } from 'jose';
import { serve } from './app.js';
import { authCookie } from './auth/credentials.js';
import { isUserId } from './auth/user-id.js';
import { configFromCommandLine } from './cli.js';
import { beforeDeadline } from './deadline.js';
import { createLogger } from './log.js';
import { createRuntime } from './runtimes/create.js';

function engineAnswers(): Promise<boolean> {
  return beforeDeadline(
    new Docker().ping().then(
      () => true,
      () => false,
    ),
    1500,
    () => false,
  );
}

const useDocker = ((process.env.GATEWAY_RUNTIME ?? (await engineAnswers())) ? 'docker' : 'process') === 'docker';
const defaults: NodeJS.ProcessEnv = {
  GATEWAY_RUNTIME: useDocker ? 'docker' : 'process',
  GATEWAY_JWT_SECRET: randomBytes(24).toString('hex'),
  GATEWAY_IDLE_TIMEOUT: '10m',
};
if (useDocker && !process.env.GATEWAY_IMAGE) {
  console.log('demo: building the demo workspace image (no registry needed)…');
  const script = fileURLToPath(new URL('../images/demo-workspace/build-image.sh', import.meta.url));
  defaults.GATEWAY_IMAGE = execFileSync('bash', [script], { encoding: 'utf8' }).trim().split('\n').pop();
  defaults.GATEWAY_NETWORK = 'workspace_gateway_demo';
  defaults.GATEWAY_INSTANCE = 'demo';
  defaults.GATEWAY_CONTAINER_PREFIX = 'demo_workspace_';
}

const config = configFromCommandLine(process.argv.slice(2), process.env, defaults);
const logger = createLogger(config.log_level);
const app = await serve(config, logger, () => createRuntime(config, logger));
const port = app.port!;
const secret = config.jwt_key.kind === 'secret' ? config.jwt_key.secret : undefined;
if (!secret) throw new Error('the demo signs its own development tokens: use a shared secret');

const gateway = `http://localhost:${port}`;
const lms = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const user = url.searchParams.get('user') ?? '';
  if (url.pathname !== '/login' || !isUserId(user) || user === 'me') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><title>Demo login</title><form action="/login"><label>User id <input name="user" value="alice" pattern="[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"></label> <button>Open my workspace</button></form>`,
    );
    return;
  }
  const token = await new SignJWT({ user_id: user, is_staff: url.searchParams.has('staff') })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('8h')
    .sign(secret);
  // Cookies are per host, not per port: the gateway on localhost:<port> receives it.
  res.writeHead(302, { 'set-cookie': authCookie(config.cookie_name, token, { secure: false }), location: `${gateway}/ws/me/` });
  res.end();
});
lms.listen(port + 1, config.host);
console.log(`
workspace-gateway demo — runtime: ${config.runtime}${config.runtime === 'process' ? ' (no Docker Engine answered; workspaces are local processes, not isolated)' : ` (image ${config.image})`}
  gateway:  ${gateway}
  sign in:  http://localhost:${port + 1}/login?user=alice   (any user id; add &staff=1 for an admin)
Ctrl-C stops the gateway${config.runtime === 'docker' ? '; workspaces keep running until idle' : ' and its workspaces'}.
`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().finally(() => process.exit(0)));
