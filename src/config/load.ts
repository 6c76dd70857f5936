import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Setting, SettingValues } from './setting.js';
import { envName, settings, type SettingKey } from './settings.js';

/** Validated settings, keyed like the YAML file. Settings without a default may be undefined. */
export type Config = SettingValues<typeof settings> & {
  /** The resolved verification key material (secret read from its file, PEM read from its path). */
  jwt_key: JwtKey;
  /** The key that signs gateway sessions: its own, or derived from the LMS's shared secret (never equal to it). */
  session_key: Uint8Array;
};

export type JwtKey = { kind: 'secret'; secret: Uint8Array } | { kind: 'public_key'; pem: string } | { kind: 'jwks'; url: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super('Invalid configuration:\n' + problems.map((p) => '  - ' + p).join('\n'));
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Parsed YAML document (an object of setting keys). */
  file?: unknown;
  /** Shown in messages about the file. */
  fileName?: string;
}

const entries = Object.entries(settings) as [SettingKey, Setting][];

/** Reads and validates a YAML config file; problems name the file. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`config file ${path}: cannot read it (${(err as Error).message})`]);
  }
  // Loaded only when a file is given: most gateways run on GATEWAY_* variables alone.
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  try {
    return parse(text) ?? {};
  } catch (err) {
    throw new ConfigError([`config file ${path}: not valid YAML (${(err as Error).message.split('\n')[0]})`]);
  }
}

/**
 * Environment variables win over the file, the file over defaults. Every
 * problem is collected so an operator fixes them all in one go.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {};
  const fileName = sources.fileName ?? 'config file';
  const problems: string[] = [];
  const file = sources.file ?? {};
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw new ConfigError([`${fileName}: expected a mapping of settings at the top level`]);
  }
  const fileValues = file as Record<string, unknown>;
  for (const key of Object.keys(fileValues)) {
    if (!(key in settings)) problems.push(`${fileName}: unknown key "${key}" (see --help for the list)`);
  }

  const out: Record<string, unknown> = {};
  for (const [key, setting] of entries) {
    const fromEnv = env[envName(key)];
    const raw = fromEnv !== undefined ? fromEnv : fileValues[key];
    const where = fromEnv !== undefined ? envName(key) : `${key} (${fileName})`;
    if (raw === undefined || raw === null || raw === '') {
      if (setting.default === undefined) continue;
      out[key] = setting.schema.parse(setting.default);
      continue;
    }
    const result = setting.schema.safeParse(typeof raw === 'number' || typeof raw === 'boolean' || Array.isArray(raw) ? raw : String(raw));
    if (result.success) out[key] = result.data;
    else problems.push(`${where}: ${result.error.issues.map((i) => i.message).join('; ')}`);
  }

  const jwtKey = problems.length === 0 ? resolveJwtKey(out, problems) : undefined;
  const sessionKey = jwtKey ? resolveSessionKey(out, jwtKey, problems) : undefined;
  if (problems.length > 0 || !jwtKey || !sessionKey) throw new ConfigError(problems);
  return { ...(out as Omit<Config, 'jwt_key' | 'session_key'>), jwt_key: jwtKey, session_key: sessionKey } as Config;
}

/**
 * Its own key when one is given. Derived otherwise, only from an LMS shared
 * secret (HKDF: the session key never equals the LMS key, so a session cookie
 * is no LMS token and the other way round); a public key is no secret to derive from.
 */
function resolveSessionKey(values: Record<string, unknown>, jwtKey: JwtKey, problems: string[]): Uint8Array | undefined {
  const secret = values.session_secret as string | undefined;
  const secretFile = values.session_secret_file as string | undefined;
  if (secret !== undefined && secretFile !== undefined) {
    problems.push(`${envName('session_secret')} and ${envName('session_secret_file')}: set one, not both`);
    return undefined;
  }
  const value = secretFile === undefined ? secret : readSecretFile('session_secret_file', secretFile, problems);
  if (value === null) return undefined;
  if (value !== undefined) {
    if (value.length >= 32) return new TextEncoder().encode(value);
    problems.push(`${secretFile !== undefined ? envName('session_secret_file') : envName('session_secret')}: the session key must be at least 32 characters`);
    return undefined;
  }
  if (jwtKey.kind === 'secret') return new Uint8Array(hkdfSync('sha256', jwtKey.secret, 'workspace-gateway', 'session cookie v1', 32));
  problems.push(
    `no session key: set ${envName('session_secret')} or ${envName('session_secret_file')} (with a public key or JWKS there is no shared secret to derive one from)`,
  );
  return undefined;
}

const isHmac = (alg: string) => alg.startsWith('HS');

/** A secret from its file (a trailing newline ignored), or null with the problem noted. */
function readSecretFile(key: SettingKey, path: string, problems: string[]): string | null {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    problems.push(`${envName(key)}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return null;
  }
}

function resolveJwtKey(values: Record<string, unknown>, problems: string[]): JwtKey | undefined {
  const algorithms = values.jwt_algorithms as string[];
  const secret = values.jwt_secret as string | undefined;
  const secretFile = values.jwt_secret_file as string | undefined;
  const publicKey = values.jwt_public_key as string | undefined;
  const jwksUrl = values.jwks_url as string | undefined;
  const given = [secret ?? secretFile, publicKey, jwksUrl].filter((v) => v !== undefined).length;
  const keyNames = `${envName('jwt_secret')}, ${envName('jwt_secret_file')}, ${envName('jwt_public_key')} or ${envName('jwks_url')}`;

  if (secret !== undefined && secretFile !== undefined) {
    problems.push(`${envName('jwt_secret')} and ${envName('jwt_secret_file')}: set one, not both`);
    return undefined;
  }
  if (given === 0) {
    problems.push(`no token key: set ${keyNames}`);
    return undefined;
  }
  if (given > 1) {
    problems.push(`several token keys given: set exactly one of ${keyNames}`);
    return undefined;
  }
  // Mixing HMAC and asymmetric algorithms for one key is how algorithm confusion starts.
  const hmac = algorithms.filter(isHmac);
  if (hmac.length > 0 && hmac.length < algorithms.length) {
    problems.push(`${envName('jwt_algorithms')}: HMAC (HS*) and asymmetric algorithms cannot be mixed; got ${algorithms.join(',')}`);
    return undefined;
  }
  if (secret !== undefined || secretFile !== undefined) {
    if (hmac.length === 0) {
      problems.push(`${envName('jwt_algorithms')}: a shared secret needs HS256, HS384 or HS512; got ${algorithms.join(',')}`);
      return undefined;
    }
    const value = secretFile === undefined ? secret : readSecretFile('jwt_secret_file', secretFile, problems);
    if (value === null) return undefined;
    if (!value || value.length < 16) {
      problems.push(`${secretFile !== undefined ? envName('jwt_secret_file') : envName('jwt_secret')}: the secret must be at least 16 characters`);
      return undefined;
    }
    return { kind: 'secret', secret: new TextEncoder().encode(value) };
  }
  if (hmac.length > 0) {
    problems.push(`${envName('jwt_algorithms')}: a public key or JWKS needs asymmetric algorithms (RS256, ES256, EdDSA, …); got ${algorithms.join(',')}`);
    return undefined;
  }
  if (jwksUrl !== undefined) return { kind: 'jwks', url: jwksUrl };
  let pem = publicKey!;
  if (!pem.includes('-----BEGIN')) {
    try {
      pem = readFileSync(pem, 'utf8');
    } catch {
      problems.push(`${envName('jwt_public_key')}: expected a PEM public key or the path of a PEM file`);
      return undefined;
    }
  }
  return { kind: 'public_key', pem };
}

/** `--help` text, generated from the settings table. */
export function helpText(): string {
  const lines = [
    'workspace-gateway — one authenticated URL per student workspace',
    '',
    'Usage: workspace-gateway [--config FILE] [--help]',
    '',
    'Settings come from GATEWAY_* environment variables, or from a YAML file given with',
    '--config (keys as below, lower case). The environment wins over the file.',
    'Durations: 45s, 30m, 24h, 7d or plain seconds. Sizes: 512m, 2g.',
    '',
  ];
  for (const [key, setting] of entries) {
    const def = setting.default === undefined ? '(unset)' : setting.default === '' ? '(empty)' : setting.default;
    lines.push(`  ${envName(key).padEnd(34)} ${key.padEnd(24)} default: ${def}`);
    lines.push(`      ${setting.help}`);
  }
  lines.push('', `  ${envName('jwt_secret_file')} reads the secret from a file; set one key source only.`);
  return lines.join('\n');
}
