import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, helpText, loadConfig, readConfigFile } from '../../src/config/load.js';
import { settings } from '../../src/config/settings.js';
import { parseBytes, parseDuration } from '../../src/config/values.js';
import { dockerGatewayEnv, dockerRuntimeSettings, uniqueInstance } from '../support/engine.js';
import { dockerEnv } from '../support/engine-gateway.js';

const SECRET = { GATEWAY_JWT_SECRET: 'a-secret-of-enough-length' };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has the SPEC defaults', () => {
    const c = loadConfig({ env: SECRET });
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      runtime: 'docker',
      jwt_algorithms: ['HS256'],
      jwt_user_claim: 'user_id',
      jwt_admin_claim: 'is_staff',
      admin_workspace_access: false,
      cookie_name: 'workspace_token',
      image: 'apra-nova-code-server:latest',
      network: 'apranova_network',
      workspace_port: 8080,
      memory_limit: 2 * 1024 ** 3,
      cpu_limit: 0.5,
      pids_limit: 512,
      idle_timeout: 30 * 60_000,
      remove_after: 7 * 86_400_000,
      spawn_timeout: 60_000,
      max_running: 0,
      max_concurrent_spawns: 8,
      log_level: 'info',
      data_root: './data',
    });
    expect(c.public_url).toBeUndefined();
    expect(c.jwt_key).toEqual({ kind: 'secret', secret: new TextEncoder().encode(SECRET.GATEWAY_JWT_SECRET) });
  });

  it('parses durations and sizes in every documented form', () => {
    expect([parseDuration('45s'), parseDuration('30m'), parseDuration('24h'), parseDuration('7d'), parseDuration('90'), parseDuration(2)]).toEqual([
      45_000, 1_800_000, 86_400_000, 604_800_000, 90_000, 2000,
    ]);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('-5s')).toBeUndefined();
    expect([parseBytes('512m'), parseBytes('2g'), parseBytes('2GiB'), parseBytes('1024')]).toEqual([512 * 1024 ** 2, 2 * 1024 ** 3, 2 * 1024 ** 3, 1024]);
  });

  it('lets the environment win over the file', () => {
    const c = loadConfig({ env: { ...SECRET, GATEWAY_PORT: '9000' }, file: { port: 7000, idle_timeout: '10m', allowed_origins: ['https://a.example'] } });
    expect(c.port).toBe(9000);
    expect(c.idle_timeout).toBe(600_000);
    expect(c.allowed_origins).toEqual(['https://a.example']);
  });

  it('reports every mistake with its key and what is expected', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          ...SECRET,
          GATEWAY_PORT: 'eighty',
          GATEWAY_IDLE_TIMEOUT: 'a while',
          GATEWAY_RUNTIME: 'kubernetes',
          GATEWAY_ADMIN_WORKSPACE_ACCESS: 'maybe',
          GATEWAY_PUBLIC_URL: 'lms.example.edu',
          GATEWAY_WORKERS: '0',
        },
        file: { memory_limit: 'lots', unknown_key: 1 },
        fileName: 'gateway.yaml',
      }),
    );
    const text = problems.join('\n');
    expect(text).toContain('GATEWAY_PORT');
    expect(text).toMatch(/GATEWAY_IDLE_TIMEOUT: expected a duration/);
    expect(text).toContain('GATEWAY_RUNTIME');
    expect(text).toMatch(/GATEWAY_ADMIN_WORKSPACE_ACCESS: expected true or false/);
    expect(text).toMatch(/GATEWAY_PUBLIC_URL: expected an absolute http\(s\) URL/);
    expect(text).toMatch(/memory_limit \(gateway.yaml\): expected a size/);
    expect(text).toMatch(/gateway.yaml: unknown key "unknown_key"/);
    expect(text).toContain('GATEWAY_WORKERS');
    expect(problems.length).toBe(8);
  });

  it('requires exactly one token key, matching the algorithms', () => {
    expect(problemsOf(() => loadConfig({ env: {} }))[0]).toMatch(/no token key/);
    expect(problemsOf(() => loadConfig({ env: { ...SECRET, GATEWAY_JWKS_URL: 'https://lms/jwks' } }))[0]).toMatch(/several token keys/);
    expect(problemsOf(() => loadConfig({ env: { GATEWAY_JWT_SECRET: 'short' } }))[0]).toMatch(/at least 16/);
    expect(problemsOf(() => loadConfig({ env: { ...SECRET, GATEWAY_JWT_ALGORITHMS: 'RS256' } }))[0]).toMatch(/shared secret needs HS256/);
    expect(problemsOf(() => loadConfig({ env: { ...SECRET, GATEWAY_JWT_ALGORITHMS: 'HS256,RS256' } }))[0]).toMatch(/cannot be mixed/);
    expect(problemsOf(() => loadConfig({ env: { GATEWAY_JWKS_URL: 'https://lms/jwks' } }))[0]).toMatch(/asymmetric algorithms/);
    expect(problemsOf(() => loadConfig({ env: { ...SECRET, GATEWAY_JWT_ALGORITHMS: 'none' } }))[0]).toMatch(/GATEWAY_JWT_ALGORITHMS/);
    expect(
      loadConfig({
        env: {
          GATEWAY_JWKS_URL: 'https://lms.example/jwks',
          GATEWAY_JWT_ALGORITHMS: 'RS256,ES256',
          GATEWAY_SESSION_SECRET: 'session-key-0123456789-0123456789',
        },
      }).jwt_key,
    ).toEqual({
      kind: 'jwks',
      url: 'https://lms.example/jwks',
    });
  });

  it('reads the secret and the public key from files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wg-config-'));
    writeFileSync(join(dir, 'secret'), 'file-secret-0123456789\n');
    writeFileSync(join(dir, 'key.pem'), '-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n');
    const fromFile = loadConfig({ env: { GATEWAY_JWT_SECRET_FILE: join(dir, 'secret') } });
    expect(new TextDecoder().decode((fromFile.jwt_key as { secret: Uint8Array }).secret)).toBe('file-secret-0123456789');
    expect(problemsOf(() => loadConfig({ env: { GATEWAY_JWT_SECRET_FILE: join(dir, 'missing') } }))[0]).toMatch(
      /GATEWAY_JWT_SECRET_FILE: cannot read .*ENOENT/,
    );
    const pem = loadConfig({
      env: { GATEWAY_JWT_PUBLIC_KEY: join(dir, 'key.pem'), GATEWAY_JWT_ALGORITHMS: 'RS256', GATEWAY_SESSION_SECRET: 'session-key-0123456789-0123456789' },
    });
    expect(pem.jwt_key).toMatchObject({ kind: 'public_key', pem: expect.stringContaining('BEGIN PUBLIC KEY') });
  });

  it('needs a session key with a public key, and derives one from a shared secret that is not the secret itself', () => {
    const rs = { GATEWAY_JWKS_URL: 'https://lms.example/jwks', GATEWAY_JWT_ALGORITHMS: 'RS256' };
    expect(problemsOf(() => loadConfig({ env: rs }))[0]).toMatch(/no session key: set GATEWAY_SESSION_SECRET/);
    expect(problemsOf(() => loadConfig({ env: { ...rs, GATEWAY_SESSION_SECRET: 'short' } }))[0]).toMatch(/at least 32/);
    const derived = loadConfig({ env: SECRET }).session_key;
    const again = loadConfig({ env: SECRET }).session_key;
    expect(Buffer.from(derived).equals(Buffer.from(again))).toBe(true);
    expect(
      Buffer.from(derived).equals(
        Buffer.from(loadConfig({ env: SECRET }).jwt_key.kind === 'secret' ? (loadConfig({ env: SECRET }).jwt_key as { secret: Uint8Array }).secret : []),
      ),
    ).toBe(false);
    const own = loadConfig({ env: { ...SECRET, GATEWAY_SESSION_SECRET: 'session-key-0123456789-0123456789' } }).session_key;
    expect(new TextDecoder().decode(own)).toBe('session-key-0123456789-0123456789');
    expect(problemsOf(() => loadConfig({ env: { ...SECRET, GATEWAY_LMS_ORIGINS: 'https://lms.example.edu/app' } }))[0]).toMatch(/GATEWAY_LMS_ORIGINS/);
    expect(loadConfig({ env: { ...SECRET, GATEWAY_LMS_ORIGINS: 'https://lms.example.edu, http://localhost:3000' } }).lms_origins).toEqual([
      'https://lms.example.edu',
      'http://localhost:3000',
    ]);
  });

  it('reads YAML files and names the file in its errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wg-config-'));
    writeFileSync(join(dir, 'ok.yaml'), 'port: 9999\nidle_timeout: 45s\n');
    writeFileSync(join(dir, 'bad.yaml'), 'port: [unclosed\n');
    expect(readConfigFile(join(dir, 'ok.yaml'))).toEqual({ port: 9999, idle_timeout: '45s' });
    expect(problemsOf(() => readConfigFile(join(dir, 'bad.yaml')))[0]).toMatch(/bad.yaml: not valid YAML/);
    expect(problemsOf(() => readConfigFile(join(dir, 'nope.yaml')))[0]).toMatch(/cannot read/);
  });

  it('has limits on what a client can hold open, each with a sane default', () => {
    const c = loadConfig({ env: SECRET });
    expect(c).toMatchObject({
      headers_timeout: 20_000,
      body_timeout: 60_000,
      restore_timeout: 30 * 60_000,
      max_connections_per_client: 256,
      max_websockets_per_user: 64,
    });
    const small = loadConfig({
      env: {
        ...SECRET,
        GATEWAY_BODY_TIMEOUT: '250ms',
        GATEWAY_RESTORE_TIMEOUT: '2h',
        GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '0',
        GATEWAY_MAX_WEBSOCKETS_PER_USER: '8',
      },
    });
    expect(small).toMatchObject({ body_timeout: 250, restore_timeout: 7_200_000, max_connections_per_client: 0, max_websockets_per_user: 8 });
  });

  it('refuses limits that would switch a timeout off or make no sense', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          ...SECRET,
          GATEWAY_HEADERS_TIMEOUT: '0',
          GATEWAY_BODY_TIMEOUT: 'soon',
          GATEWAY_RESTORE_TIMEOUT: '30d',
          GATEWAY_MAX_CONNECTIONS_PER_CLIENT: '-1',
          GATEWAY_MAX_WEBSOCKETS_PER_USER: 'many',
        },
      }),
    );
    const text = problems.join('\n');
    expect(text).toMatch(/GATEWAY_HEADERS_TIMEOUT: expected a duration above 0/);
    expect(text).toMatch(/GATEWAY_BODY_TIMEOUT: expected a duration/);
    expect(text).toMatch(/GATEWAY_RESTORE_TIMEOUT: expected at most 24 days/);
    expect(text).toMatch(/GATEWAY_MAX_CONNECTIONS_PER_CLIENT/);
    expect(text).toMatch(/GATEWAY_MAX_WEBSOCKETS_PER_USER/);
    expect(problems.length).toBe(5);
    const help = helpText();
    for (const name of ['GATEWAY_BODY_TIMEOUT', 'GATEWAY_RESTORE_TIMEOUT', 'GATEWAY_MAX_CONNECTIONS_PER_CLIENT', 'GATEWAY_MAX_WEBSOCKETS_PER_USER'])
      expect(help).toContain(name);
  });

  it('lists every setting with its default in --help', () => {
    const help = helpText();
    for (const [key, setting] of Object.entries(settings)) {
      expect(help).toContain(`GATEWAY_${key.toUpperCase()}`);
      if ('default' in setting && setting.default) expect(help).toContain(setting.default);
    }
  });
});

describe('the example configuration file', () => {
  it('is valid as shipped', () => {
    const file = readConfigFile(new URL('../../config/gateway.example.yaml', import.meta.url).pathname);
    // The secret file path in the example is the deployment's; here the secret comes from the environment.
    const { jwt_secret_file: _, ...rest } = file as Record<string, unknown>;
    const config = loadConfig({ env: SECRET, file: rest, fileName: 'gateway.example.yaml' });
    expect(config.public_url).toBe('https://lms.example.edu');
    expect(config.idle_timeout).toBe(30 * 60_000);
  });
});

/** The Docker settings are written once (dockerRuntimeSettings); a gateway configured the operator's way must read back the same. */
describe('the Docker test settings as GATEWAY_* variables', () => {
  const readBack = (env: Record<string, string>, keys: string[]) => {
    const config = loadConfig({ env: { ...SECRET, ...env } }) as unknown as Record<string, unknown>;
    return { runtime: config.runtime, ...Object.fromEntries(keys.map((key) => [key, config[key]])) };
  };

  it('give a gateway exactly the settings the runtime tests use', () => {
    const given = dockerRuntimeSettings({ instance: 'tcafe-unit', image: 'editor:1', cap_add: ['CHOWN', 'SETUID'], storage: 'bind' });
    expect(readBack(dockerGatewayEnv(given), Object.keys(given))).toEqual({ runtime: 'docker', ...given });
  });

  it("scope a gateway to the test file's instance, prefix and network", () => {
    const scope = uniqueInstance('load test');
    const expected = dockerRuntimeSettings({ instance: scope.instance, image: 'editor:2' });
    expect(expected.container_prefix).toBe(scope.prefix);
    expect(readBack(dockerEnv(scope, 'editor:2'), Object.keys(expected))).toEqual({ runtime: 'docker', ...expected });
  });
});

describe('swarm settings', () => {
  it('reads node=engine pairs, and refuses a pair that is not one, naming the setting', () => {
    const c = loadConfig({ env: { ...SECRET, GATEWAY_RUNTIME: 'swarm', GATEWAY_SWARM_NODE_ENGINES: 'n1=unix:///run/n1.sock, node-2=tcp://10.0.0.2:2376' } });
    expect(c.swarm_node_engines).toEqual([
      { node: 'n1', engine: 'unix:///run/n1.sock' },
      { node: 'node-2', engine: 'tcp://10.0.0.2:2376' },
    ]);
    expect(loadConfig({ env: SECRET }).swarm_node_engines).toEqual([]);
    for (const bad of ['n1', 'n1=http://x:1', 'n1=tcp://host', '=unix:///a']) {
      expect(problemsOf(() => loadConfig({ env: { ...SECRET, GATEWAY_SWARM_NODE_ENGINES: bad } })).join(' ')).toMatch(/SWARM_NODE_ENGINES|swarm_node_engines/);
    }
  });
});
