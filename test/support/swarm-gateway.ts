/**
 * The gateway on the swarm bed as production runs it: in a container on the
 * manager (the only place that reaches the workspaces' overlay networks),
 * talking to the manager's engine through its socket, its port published on
 * the manager's address. The container runs the test build of the current
 * sources with the bed's node image, both folders mounted read-only.
 */
import { dirname } from 'node:path';
import { envName, type SwarmSettings } from '../../src/config/settings.js';
import { LABEL } from '../../src/runtimes/engine/labels.js';
import { builtGateway, REPO } from './gateway-build.js';
import { SECRET } from './gateway.js';
import type { SwarmBed } from './swarm-bed.js';

export interface SwarmGateway {
  url: string;
  wsUrl: string;
  /** Its container on the manager. */
  container: string;
  /** Stops and removes the container (its workspaces stay, as after a gateway restart). */
  close(): Promise<void>;
  /** The container's output, for a failure message. */
  logs(): Promise<string>;
}

/** GATEWAY_* settings of the swarm runtime (node engines as node=engine pairs). */
export function swarmGatewayEnv(settings: SwarmSettings): Record<string, string> {
  const env: Record<string, string> = { GATEWAY_RUNTIME: 'swarm' };
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    if (key === 'swarm_node_engines') env[envName(key)] = settings.swarm_node_engines.map((e) => `${e.node}=${e.engine}`).join(',');
    else env[envName(key)] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return env;
}

let started = 0;

/** Starts a gateway container on the manager with these GATEWAY_* settings; resolves once /healthz answers. */
export async function startSwarmGateway(
  bed: SwarmBed,
  instance: string,
  env: Record<string, string>,
  /** A folder holding the engine socket to use instead of the manager's own (an EngineDoor's, to take the manager away). */
  engineFolder?: string,
): Promise<SwarmGateway> {
  const main = await builtGateway();
  const build = dirname(dirname(main));
  const name = `${instance}_gateway${++started}`;
  const settings: Record<string, string> = {
    GATEWAY_HOST: '0.0.0.0',
    GATEWAY_PORT: '8080',
    GATEWAY_JWT_SECRET: SECRET,
    GATEWAY_SPAWN_TIMEOUT: '30s',
    GATEWAY_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info',
    ...env,
  };
  // Unless a test names a container, the gateway finds its own by its host name (the container id).
  if (!settings.GATEWAY_SWARM_GATEWAY_CONTAINER) delete settings.GATEWAY_SWARM_GATEWAY_CONTAINER;
  const run = await bed.cli(bed.manager, [
    'run',
    '-d',
    '--name',
    name,
    '--label',
    `${LABEL.managed}=true`,
    '--label',
    `${LABEL.instance}=${instance}`,
    // Root inside, for the engine's socket (the gateway is the one container that holds it).
    '--user',
    '0:0',
    ...(engineFolder
      ? ['-v', `${engineFolder}:/engine`, '-e', 'DOCKER_HOST=unix:///engine/docker.sock']
      : ['-v', `${bed.manager.socket}:/var/run/docker.sock`]),
    // The nodes' engines, for files (GATEWAY_SWARM_NODE_ENGINES), and the code.
    '-v',
    `${dirname(bed.manager.socket)}:${dirname(bed.manager.socket)}`,
    '-v',
    `${REPO}:${REPO}:ro`,
    '-v',
    `${build}:${build}:ro`,
    '-p',
    `${bed.manager.ip}::8080`,
    ...Object.entries(settings).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    bed.images[0]!,
    'node',
    main,
  ]);
  if (run.code !== 0) throw new Error(`could not start the gateway container: ${run.stderr}`);
  const container = run.stdout.trim();
  const logs = async () => {
    const out = await bed.cli(bed.manager, ['logs', '--tail', '80', container]);
    return out.stdout + out.stderr;
  };
  const close = async () => {
    await bed.cli(bed.manager, ['rm', '-f', container]);
  };
  const port = (await bed.cli(bed.manager, ['port', container, '8080/tcp'])).stdout.trim().split('\n')[0]?.split(':').pop();
  const url = `http://${bed.manager.ip}:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const healthy = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (healthy) break;
    if (Date.now() > deadline) {
      const output = await logs();
      await close();
      throw new Error(`the gateway container did not answer /healthz within 30 s:\n${output}`);
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  return { url, wsUrl: url.replace(/^http/, 'ws'), container, close, logs };
}
