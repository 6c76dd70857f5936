import { packageFile } from '../package-root.js';
import { runScript } from './run-script.js';

/** What the demo's workspaces are, as the gateway settings that make them so. */
export interface DemoWorkspaces {
  runtime: 'docker' | 'process';
  /** GATEWAY_* defaults (the person's own environment still wins). */
  env: Record<string, string>;
  /** One line for the banner: what a signed-in person gets. */
  description: string;
  /** Set when the real editor could not be had and the stand-in serves instead: why. */
  fallback?: string;
}

export interface DemoChoice {
  /** A Docker Engine answers (or GATEWAY_RUNTIME=docker was asked for). */
  engine: boolean;
  /** `--stand-in`: the small demo page instead of VS Code, for a quick look. */
  standIn: boolean;
  say: (line: string) => void;
}

const CODE_SERVER = 'code-server 4.100.3';
const DOCKER_NAMES = { GATEWAY_NETWORK: 'workspace_gateway_demo', GATEWAY_INSTANCE: 'demo', GATEWAY_CONTAINER_PREFIX: 'demo_workspace_' };

/**
 * The real editor when it can be had: with an engine the workspace image
 * (images/workspace/build-local.sh, built once without a registry, then
 * reused), without one a local code-server per user installed once from the
 * npm registry (images/workspace/install-code-server.sh). When that cannot
 * happen, the stand-in, with the reason.
 */
export async function demoWorkspaces({ engine, standIn, say }: DemoChoice): Promise<DemoWorkspaces> {
  if (standIn) return standInWorkspaces(engine, say);
  try {
    return engine ? await realImage(say) : await localCodeServer(say);
  } catch (err) {
    const reason = (err as Error).message;
    say(`demo: VS Code could not be set up: ${reason}`);
    say('demo: using the stand-in workspace instead (a small page, no editor).');
    return { ...(await standInWorkspaces(engine, say)), fallback: reason };
  }
}

async function realImage(say: (line: string) => void): Promise<DemoWorkspaces> {
  say(`demo: preparing the workspace image (${CODE_SERVER} in a container), built here without a registry;`);
  say('demo: the first time this takes about 3-5 minutes (code-server from npm, a Debian root filesystem), later about a second.');
  const image = await runScript(packageFile('images/workspace/build-local.sh'), [], (line) => say(`  ${line}`));
  return {
    runtime: 'docker',
    env: { ...DOCKER_NAMES, GATEWAY_IMAGE: image, GATEWAY_MEMORY_LIMIT: '1g', GATEWAY_SPAWN_TIMEOUT: '90s' },
    description: `VS Code (${CODE_SERVER}) in a container of its own per user (image ${image})`,
  };
}

async function localCodeServer(say: (line: string) => void): Promise<DemoWorkspaces> {
  say(`demo: without a Docker Engine (none answered, or GATEWAY_RUNTIME=process): each workspace will be ${CODE_SERVER} as a local process.`);
  say('demo: installing it once from the npm registry into a cache folder (about 2-4 minutes the first time, then reused).');
  const installed = await runScript(packageFile('images/workspace/install-code-server.sh'), [], (line) => say(`  ${line}`));
  return {
    runtime: 'process',
    env: { GATEWAY_PROCESS_COMMAND: codeServerCommand(installed), GATEWAY_SPAWN_TIMEOUT: '90s' },
    description: `VS Code (${CODE_SERVER}) as a local process per user, in <data root>/<user>/project (installed in ${installed})`,
  };
}

/**
 * One code-server per user on its loopback port, without its own auth (the
 * gateway authenticates), its settings, extensions and project folder under
 * the user's folder. Workspace trust is off: these are the user's own files.
 */
export function codeServerCommand(installed: string): string {
  const entry = `${installed}/node_modules/code-server/out/node/entry.js`;
  const data = '{home}/.local/share/code-server';
  return [
    'mkdir -p {home}/project &&',
    `SHELL=/bin/bash exec ${quote(process.execPath)} ${quote(entry)}`,
    '--bind-addr 127.0.0.1:{port} --auth none --disable-telemetry --disable-update-check --disable-workspace-trust',
    `--user-data-dir ${data} --extensions-dir ${data}/extensions {home}/project`,
  ].join(' ');
}

async function standInWorkspaces(engine: boolean, say: (line: string) => void): Promise<DemoWorkspaces> {
  if (!engine) return { runtime: 'process', env: {}, description: 'the stand-in workspace (a small page) as a local process per user' };
  say('demo: building the stand-in workspace image (a few seconds, no registry needed)…');
  const image = await runScript(packageFile('images/demo-workspace/build-image.sh'), [], (line) => say(`  ${line}`));
  return {
    runtime: 'docker',
    env: { ...DOCKER_NAMES, GATEWAY_IMAGE: image },
    description: `the stand-in workspace (a small page) in a container per user (image ${image})`,
  };
}

/** A path for a shell line: the cache folder may hold spaces. */
function quote(path: string): string {
  return `'${path.replaceAll("'", `'\\''`)}'`;
}
