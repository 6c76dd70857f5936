#!/usr/bin/env node
/**
 * `npm run demo`: the gateway with a local default, for a person to try at
 * once: real VS Code in the browser, in a container per user when a Docker
 * Engine answers, else as a local process per user (src/demo/workspaces.ts),
 * and a stand-in for the LMS on the next port (src/demo/sign-in-page.ts).
 * `--stand-in` (or DEMO_STAND_IN=1) serves the small stand-in page instead of
 * the editor, without the first run's build or install.
 */
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { serve } from './app.js';
import { configFromCommandLine } from './cli.js';
import { beforeDeadline } from './deadline.js';
import { signInPage } from './demo/sign-in-page.js';
import { demoWorkspaces } from './demo/workspaces.js';
import { createLogger } from './log.js';
import { createRuntime } from './runtimes/create.js';

const IDLE_TIMEOUT = '3m';
const IDLE_WARNING = '1m';

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

const args = process.argv.slice(2).filter((arg) => arg !== '--stand-in');
const standIn = args.length < process.argv.length - 2 || process.env.DEMO_STAND_IN === '1';
const engine = process.env.GATEWAY_RUNTIME ? process.env.GATEWAY_RUNTIME === 'docker' : await engineAnswers();
const workspaces = await demoWorkspaces({ engine, standIn, say: (line) => console.log(line) });

const config = configFromCommandLine(args, process.env, {
  GATEWAY_RUNTIME: workspaces.runtime,
  GATEWAY_JWT_SECRET: randomBytes(24).toString('hex'),
  // Short, so a person trying it sees an idle stop and the wake.
  GATEWAY_IDLE_TIMEOUT: IDLE_TIMEOUT,
  GATEWAY_IDLE_WARNING: IDLE_WARNING,
  ...workspaces.env,
});
if (config.jwt_key.kind !== 'secret') {
  console.error('demo: the demo signs its own development tokens, so it needs a shared secret (unset GATEWAY_JWT_PUBLIC_KEY / GATEWAY_JWKS_URL).');
  process.exit(2);
}
const logger = createLogger(config.log_level);
const app = await serve(config, logger, () => createRuntime(config, logger));
const port = app.port!;
const gateway = `http://localhost:${port}`;
const signIn = signInPage({
  gatewayUrl: gateway,
  secret: config.jwt_key.secret,
  cookieName: config.cookie_name,
  idleTimeout: process.env.GATEWAY_IDLE_TIMEOUT ?? IDLE_TIMEOUT,
  idleWarning: process.env.GATEWAY_IDLE_WARNING ?? IDLE_WARNING,
});
signIn.listen(port + 1, config.host);
console.log(`
workspace-gateway demo — runtime: ${config.runtime}${config.runtime === 'process' ? ' (workspaces are local processes, NOT isolated from each other or from you)' : ''}
  workspaces: ${workspaces.description}${workspaces.fallback ? `\n  (VS Code could not be set up: ${workspaces.fallback})` : ''}
  gateway:    ${gateway}
  sign in:    http://localhost:${port + 1}/   (any user id; the page lists who signed in, with Stop/Start)
  idle stop:  after ${process.env.GATEWAY_IDLE_TIMEOUT ?? IDLE_TIMEOUT} without activity; the next page load wakes the workspace
Ctrl-C stops the gateway${config.runtime === 'docker' ? '; workspaces keep running until idle' : ' and its workspaces'}.
`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().finally(() => process.exit(0)));
