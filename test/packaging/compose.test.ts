import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// Packaging checks that need no engine: compose.yaml as Debian's
// docker-compose (or Compose v2) reads it, and the two Dockerfiles and the
// local image script, which cannot be built here without a registry.

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(repo, path), 'utf8');
const CODE_SERVER_VERSION = '4.100.3';
const SOCKET = '/var/run/docker.sock';

/** The docker-compose binary: $DOCKER_COMPOSE, else `docker-compose` on PATH. */
function composeBinary(): string {
  const candidates = process.env.DOCKER_COMPOSE
    ? [process.env.DOCKER_COMPOSE]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, 'docker-compose'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(
    'docker-compose was not found on PATH (nor in $DOCKER_COMPOSE). It is needed to check compose.yaml: ' +
      "install Debian's package with `apt-get install docker-compose`, or point DOCKER_COMPOSE at a binary.",
  );
}

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  ports?: unknown[];
  network_mode?: string;
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  environment?: Record<string, string | null> | string[];
  profiles?: string[];
  secrets?: Array<string | { source: string }>;
  group_add?: Array<string | number>;
  privileged?: boolean;
  user?: string;
}
interface ComposeModel {
  services: Record<string, ComposeService>;
  secrets?: Record<string, unknown>;
}

let model: Promise<ComposeModel> | undefined;
/** `docker-compose -f compose.yaml config`, parsed, with no GATEWAY_* or other settings from the caller's environment. */
function composeConfig(): Promise<ComposeModel> {
  model ??= (async () => {
    const binary = composeBinary();
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
    let stdout: string;
    try {
      ({ stdout } = await run(binary, ['-f', 'compose.yaml', 'config'], { cwd: repo, env, timeout: 60_000 }));
    } catch (err) {
      const e = err as { code?: number; stderr?: string; message: string };
      throw new Error(`${binary} -f compose.yaml config failed (exit ${e.code ?? '?'}): ${e.stderr?.trim() || e.message}`);
    }
    return parse(stdout) as ComposeModel;
  })();
  return model;
}

const environment = (service: ComposeService): Record<string, string> => {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((line) => [line.split('=')[0], line.slice(line.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v ?? '']));
};
const volumeSource = (v: string | { source?: string }) => (typeof v === 'string' ? v.split(':')[0] : v.source);
const mountsSocket = (service: ComposeService) => (service.volumes ?? []).some((v) => volumeSource(v) === SOCKET);
const buildContext = (service: ComposeService) => (typeof service.build === 'string' ? service.build : service.build?.context);

describe('compose.yaml', () => {
  it('is accepted by docker-compose config', async () => {
    const config = await composeConfig();
    expect(Object.keys(config.services).sort()).toEqual(['gateway', 'workspace-image']);
  });

  it('exposes exactly one service to the outside: the gateway, on the host network without port mappings', async () => {
    const { services } = await composeConfig();
    const exposed = Object.entries(services)
      .filter(([, s]) => (s.ports ?? []).length > 0 || s.network_mode === 'host')
      .map(([name]) => name);
    expect(exposed).toEqual(['gateway']);
    const gateway = services.gateway!;
    // Host mode: it reaches the workspaces' bridge IPs on the ICC-less network
    // from the host side, and `ports:` would not apply there.
    expect(gateway.network_mode).toBe('host');
    expect(gateway.ports ?? []).toEqual([]);
    expect(environment(gateway).GATEWAY_PORT).toBe('8080');
  });

  it('publishes no workspace port and never starts the workspace image as a service', async () => {
    const { services } = await composeConfig();
    const workspace = services['workspace-image']!;
    expect(workspace.ports ?? []).toEqual([]);
    expect(workspace.network_mode).toBe('none');
    expect(workspace.profiles).toEqual(['build']);
    expect(workspace.image).toBe('apra-nova-code-server:latest');
    expect(buildContext(workspace)).toBe(join(repo, 'images/workspace'));
    for (const [name, service] of Object.entries(services)) {
      expect(service.privileged ?? false, `${name} is privileged`).toBe(false);
    }
  });

  it('mounts the engine socket into the gateway only, and gives the non-root gateway its group', async () => {
    const { services } = await composeConfig();
    const withSocket = Object.entries(services)
      .filter(([, s]) => mountsSocket(s))
      .map(([name]) => name);
    expect(withSocket).toEqual(['gateway']);
    expect(services.gateway!.group_add?.length ?? 0).toBeGreaterThan(0);
    expect(services.gateway!.user).toBeUndefined(); // the image's non-root `node` user
  });

  it('configures the gateway for the workspace image, its private network and a secret from a file', async () => {
    const config = await composeConfig();
    const gateway = config.services.gateway!;
    const env = environment(gateway);
    expect(env.GATEWAY_IMAGE).toBe('apra-nova-code-server:latest');
    expect(env.GATEWAY_NETWORK).toBe('apranova_network');
    expect(env.GATEWAY_RUNTIME).toBe('docker');
    expect(env).toHaveProperty('GATEWAY_PUBLIC_URL');
    expect(env.GATEWAY_JWT_SECRET_FILE).toBe('/run/secrets/gateway_jwt_secret');
    expect(env.GATEWAY_JWT_SECRET ?? '').toBe(''); // one source for the secret, not two
    const secrets = (gateway.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source));
    expect(secrets).toContain('gateway_jwt_secret');
    expect(config.secrets).toHaveProperty('gateway_jwt_secret');
    expect(buildContext(gateway)).toBe(repo.replace(/\/$/, ''));
  });
});

/** Dockerfile instructions (continuations joined, comments dropped), with the index of the stage they belong to. */
function instructions(text: string): Array<{ stage: number; keyword: string; args: string }> {
  const out: Array<{ stage: number; keyword: string; args: string }> = [];
  let stage = -1;
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  for (const line of logical) {
    const match = /^(\w+)\s+([\s\S]*)$/.exec(line);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    if (keyword === 'FROM') stage += 1;
    out.push({ stage, keyword, args: match[2]!.replace(/\s+/g, ' ') });
  }
  return out;
}
const finalStage = (text: string) => {
  const all = instructions(text);
  const last = Math.max(...all.map((i) => i.stage));
  return all.filter((i) => i.stage === last);
};
const argDefault = (text: string, name: string) => new RegExp(`^ARG ${name}=(\\S+)`, 'm').exec(text)?.[1];

describe('images/workspace/Dockerfile (the production workspace image)', () => {
  const text = read('images/workspace/Dockerfile');
  const final = finalStage(text);
  const runs = instructions(text)
    .filter((i) => i.keyword === 'RUN')
    .map((i) => i.args);

  it('installs code-server pinned to 4.100.3 with npm on a Node 20 Debian bookworm base', () => {
    expect(argDefault(text, 'NODE_IMAGE')).toBe('node:20-bookworm-slim');
    expect(argDefault(text, 'CODE_SERVER_VERSION')).toBe(CODE_SERVER_VERSION);
    expect(runs.some((r) => /npm install\b.*"code-server@\$\{CODE_SERVER_VERSION\}"/.test(r))).toBe(true);
    expect(instructions(text).filter((i) => /code-server@latest|codercom\/code-server/.test(i.args))).toEqual([]);
  });

  it('runs as the non-root user coder (uid 1000) in /home/coder/project', () => {
    const users = final.filter((i) => i.keyword === 'USER').map((i) => i.args);
    expect(users.at(-1)).toBe('coder');
    expect(runs.some((r) => /useradd .*--uid 1000\b.*\bcoder\b/.test(r))).toBe(true);
    expect(final.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args).toBe('/home/coder/project');
    expect(final.some((i) => i.keyword === 'EXPOSE' && i.args === '8080')).toBe(true);
  });

  it('has a HEALTHCHECK on the editor /healthz and starts code-server with --auth none, without telemetry or update checks', () => {
    const health = final.find((i) => i.keyword === 'HEALTHCHECK');
    expect(health?.args).toMatch(/CMD .*curl .*http:\/\/127\.0\.0\.1:8080\/healthz/);
    const cmd = JSON.parse(final.find((i) => i.keyword === 'CMD')!.args) as string[];
    expect(cmd).toEqual([
      'code-server',
      '--bind-addr',
      '0.0.0.0:8080',
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      '/home/coder/project',
    ]);
  });

  it('fixes the seed for bookworm: JDK 17 and a virtualenv on PATH instead of the system pip', () => {
    expect(runs.some((r) => /apt-get install .*openjdk-17-jdk-headless/.test(r))).toBe(true);
    expect(runs.filter((r) => /openjdk-11/.test(r))).toEqual([]);
    expect(runs.some((r) => /python3 -m venv \/opt\/venv/.test(r))).toBe(true);
    const pipInstall = runs.find((r) => /pip install .*django/.test(r)) ?? '';
    expect(pipInstall).toMatch(/\/opt\/venv\/bin\/pip install /);
    for (const pkg of ['django', 'flask', 'numpy', 'pandas', 'requests']) expect(pipInstall).toMatch(new RegExp(`\\b${pkg}\\b`));
    expect(runs.filter((r) => /pip3 install|--break-system-packages/.test(r))).toEqual([]);
    const path = final.find((i) => i.keyword === 'ENV' && /\bPATH=/.test(i.args))?.args ?? '';
    expect(path).toMatch(/PATH=\/opt\/venv\/bin:/);
    expect(runs.some((r) => /npm install --global .*typescript.*nodemon.*express|npm install -g .*typescript/.test(r))).toBe(true);
  });

  it('keeps apt lean', () => {
    for (const r of runs.filter((r) => /apt-get install/.test(r))) {
      expect(r).toMatch(/--no-install-recommends/);
      expect(r).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    }
  });

  it('is matched by the local build script: same code-server version and command line', () => {
    const script = read('images/workspace/build-local.sh');
    expect(/^readonly CODE_SERVER_VERSION=(\S+)$/m.exec(script)?.[1]).toBe(CODE_SERVER_VERSION);
    const scriptCmd = JSON.parse(/^readonly CMD_JSON='(.*)'$/m.exec(script)![1]!) as string[];
    expect(scriptCmd).toEqual(JSON.parse(final.find((i) => i.keyword === 'CMD')!.args));
    expect(script).toMatch(/--change 'USER coder'/);
    expect(script).toMatch(/--change 'EXPOSE 8080'/);
    expect(script).toMatch(/--change 'HEALTHCHECK .*\/healthz/);
  });
});

describe('Dockerfile (the gateway image)', () => {
  const text = read('Dockerfile');
  const final = finalStage(text);

  it('builds on node:20-bookworm-slim in stages and runs dist/main.js as the non-root node user with a healthcheck', () => {
    expect(argDefault(text, 'NODE_IMAGE')).toBe('node:20-bookworm-slim');
    expect(instructions(text).filter((i) => i.keyword === 'FROM').length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/RUN npm ci\b/);
    expect(text).toMatch(/npm run build/);
    expect(text).toMatch(/npm prune --omit=dev/);
    expect(final.filter((i) => i.keyword === 'USER').at(-1)?.args).toBe('node');
    expect(final.find((i) => i.keyword === 'HEALTHCHECK')?.args).toMatch(/\/healthz/);
    expect(JSON.parse(final.find((i) => i.keyword === 'ENTRYPOINT')!.args)).toEqual(['node', 'dist/main.js']);
    expect(final.some((i) => i.keyword === 'COPY' && /images\/demo-workspace\/server\.mjs/.test(i.args))).toBe(true);
  });
});
