/**
 * Helpers for tests against the real Docker Engine (`*.docker.test.ts`).
 * Everything a test creates carries its own instance label and is removed by
 * that label, so runs never touch containers of other runs or other people.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { envName, type DockerSettings } from '../../src/config/settings.js';
import { LABEL } from '../../src/runtimes/engine/labels.js';

export const ENGINE_SOCKET = '/var/run/docker.sock';
/** The distribution's client; another `docker` earlier on PATH is not the one to use here. */
export const DOCKER_CLI = '/usr/bin/docker';

const BUILD_SCRIPT = fileURLToPath(new URL('../../images/demo-workspace/build-image.sh', import.meta.url));

let client: Docker | undefined;

/** A dockerode client on the local engine, shared by the test process. */
export function engine(): Docker {
  client ??= new Docker({ socketPath: ENGINE_SOCKET });
  return client;
}

/**
 * Fails loudly when there is no engine: these tests are the proof that
 * workspaces are isolated, and a silent skip would pass without proving it.
 */
export async function requireEngine(): Promise<void> {
  try {
    await engine().ping();
  } catch (err) {
    throw new Error(
      `Engine tests need a Docker Engine at ${ENGINE_SOCKET} and it did not answer (${(err as Error).message}). ` +
        'Start dockerd, or run only the unit tests: npx vitest run --project unit',
    );
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the docker client; resolves with the exit code instead of throwing. */
export function dockerCli(args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(DOCKER_CLI, args, { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

let image: Promise<string> | undefined;

/** Builds (or reuses) the demo workspace image once per test process; resolves with its tag. */
export function demoImage(): Promise<string> {
  image ??= new Promise((resolve, reject) => {
    execFile('bash', [BUILD_SCRIPT], { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`build-image.sh failed: ${err.message}\n${stderr}`));
      const tag = String(stdout).trim().split('\n').pop();
      if (!tag) return reject(new Error(`build-image.sh printed no tag\n${stderr}`));
      resolve(tag);
    });
  });
  return image;
}

export interface UniqueInstance {
  /** Value of the instance label: scopes everything the test creates. */
  instance: string;
  /** Container prefix: container `<prefix><user>`, volume `<prefix><user>_data`. */
  prefix: string;
}

/** A fresh instance id and name prefix for one test file. */
export function uniqueInstance(name: string): UniqueInstance {
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 24) || 'test';
  const instance = `t${randomBytes(4).toString('hex')}-${slug}`;
  return { instance, prefix: `${instance}_` };
}

/** Force-removes every container, volume and network labelled with the instance. */
export async function cleanupInstance(instance: string): Promise<void> {
  const docker = engine();
  const filters = { label: [`${LABEL.instance}=${instance}`] };
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(ignoreNotFound)));
  const { Volumes: volumes } = await docker.listVolumes({ filters });
  await Promise.all((volumes ?? []).map((v) => docker.getVolume(v.Name).remove().catch(ignoreNotFound)));
  const networks = await docker.listNetworks({ filters });
  await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(ignoreNotFound)));
}

function ignoreNotFound(err: unknown): void {
  if ((err as { statusCode?: number }).statusCode !== 404) throw err;
}

/**
 * Complete Docker runtime settings for tests: small limits, and a network of
 * the test's own (`wgtest_<instance>`), created by the runtime with ICC off
 * and labelled with the instance so cleanup removes it. The one place these
 * are written: a gateway configured by GATEWAY_* gets them through
 * dockerGatewayEnv (see dockerEnv in engine-gateway.ts).
 */
export function dockerRuntimeSettings(overrides: Partial<DockerSettings> & Pick<DockerSettings, 'instance'>): DockerSettings {
  return {
    image: 'workspace-gateway-demo:latest',
    network: `wgtest_${overrides.instance}`,
    workspace_port: 8080,
    container_prefix: `${overrides.instance}_`,
    storage: 'volume',
    bind_root: `/tmp/wgtest_${overrides.instance}`,
    workspace_uid: '1000:1000',
    cap_add: [],
    memory_limit: 256 * 1024 * 1024,
    cpu_limit: 0.5,
    pids_limit: 128,
    ...overrides,
  };
}

/**
 * The same settings the way an operator gives them to a gateway: the docker
 * runtime and one GATEWAY_* variable per setting (lists comma-separated,
 * sizes in bytes), which loadConfig reads back to exactly these values.
 */
export function dockerGatewayEnv(settings: DockerSettings): Record<string, string> {
  const env: Record<string, string> = { GATEWAY_RUNTIME: 'docker' };
  for (const [key, value] of Object.entries(settings)) env[envName(key)] = Array.isArray(value) ? value.join(',') : String(value);
  return env;
}

/**
 * The demo image under another tag with START_DELAY_MS set: an editor that
 * takes a while to answer, so the starting page and the spawn queue show.
 */
export async function slowDemoImage(delayMs: number): Promise<string> {
  const base = await demoImage();
  const tag = `${base.split(':')[0]}-slow${delayMs}:${base.split(':')[1]}`;
  if ((await dockerCli(['image', 'inspect', tag])).code === 0) return tag;
  const created = await dockerCli(['create', base]);
  if (created.code !== 0) throw new Error(`docker create failed: ${created.stderr}`);
  const id = created.stdout.trim();
  try {
    const committed = await dockerCli(['commit', '--change', `ENV START_DELAY_MS=${delayMs}`, id, tag]);
    if (committed.code !== 0) throw new Error(`docker commit failed: ${committed.stderr}`);
  } finally {
    await dockerCli(['rm', '-f', id]);
  }
  return tag;
}
