import { z } from 'zod';
import { isAddressOrCidr, parseBoolean, parseBytes, parseDuration, parseList } from './values.js';

/**
 * Every setting, once: its YAML key (the environment name is GATEWAY_ + the
 * key in capitals), default, help line and validator. `--help`, the env and
 * YAML readers and the validation error messages are all derived from this.
 */

type Raw = unknown;

const text = () => z.string().trim().min(1, 'expected a non-empty string');

/** A setting parsed by one of the value parsers; `undefined` from the parser means "not this form". */
const parsed = <I extends string | number | boolean, T>(input: z.ZodType<I>, parse: (value: I) => T | undefined, expected: string) =>
  input.transform((value, ctx) => {
    const out = parse(value);
    if (out === undefined) {
      ctx.addIssue({ code: 'custom', message: `${expected}; got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return out;
  });

const duration = () => parsed(z.union([z.string(), z.number()]), parseDuration, 'expected a duration like 45s, 30m, 24h, 7d or seconds');
/** A timeout that cannot be off (0 would disable the limit, or spin a checking timer) and fits a timer (at most 24 days). */
const timeout = () => duration().pipe(z.number().min(1, 'expected a duration above 0').max(2 ** 31 - 1, 'expected at most 24 days'));
const bytes = () => parsed(z.union([z.string(), z.number()]), parseBytes, 'expected a size like 512m or 2g');
const bool = () => parsed(z.union([z.string(), z.boolean()]), parseBoolean, 'expected true or false');

const list = () => z.union([z.string(), z.array(z.string())]).transform(parseList);

const int = (min: number, max: number) => z.coerce.number().int(`expected a whole number`).min(min).max(max);

const positiveNumber = () => z.coerce.number().positive('expected a number above 0');

const url = () =>
  text().refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'expected an absolute http(s) URL');

const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export interface Setting {
  help: string;
  /** Shown by --help; undefined means unset. */
  default?: string;
  schema: z.ZodType<unknown, Raw>;
  secret?: boolean;
}

export const settings = {
  host: { help: 'Address to listen on.', default: '0.0.0.0', schema: text() },
  port: { help: 'Port to listen on (0 picks a free one).', default: '8080', schema: int(0, 65535) },
  workers: {
    help: 'Processes that proxy on the port. 1: this process does everything. More: a leader process spawns, stops and answers the API, and that many workers proxy to running workspaces (uses more cores).',
    default: '1',
    schema: int(1, 64),
  },
  public_url: { help: 'Public base URL (e.g. https://lms.example.edu); derived from the request when unset.', schema: url().transform((v) => v.replace(/\/+$/, '')) },
  runtime: { help: 'Where workspaces run: docker, swarm or process.', default: 'docker', schema: z.enum(['docker', 'swarm', 'process']) },
  instance: { help: 'Label value that scopes the workspaces this gateway owns (several gateways can share one engine).', default: 'default', schema: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'expected 1-63 letters, digits, _ . -') },

  jwt_secret: { help: 'HS256/384/512 shared secret.', secret: true, schema: text() },
  jwt_secret_file: { help: 'File holding the shared secret (trailing newline ignored).', schema: text() },
  jwt_public_key: { help: 'PEM public key (SPKI) for RS/PS/ES/EdDSA tokens, or a path to a PEM file.', schema: text() },
  jwks_url: { help: 'JWKS URL for asymmetric tokens.', schema: url() },
  jwt_algorithms: { help: 'Accepted signature algorithms, comma-separated.', default: 'HS256', schema: list().pipe(z.array(z.enum(ALGORITHMS)).min(1, 'expected at least one algorithm')) },
  jwt_user_claim: { help: 'Claim holding the user id.', default: 'user_id', schema: text() },
  jwt_admin_claim: { help: 'Claim that marks an admin when true.', default: 'is_staff', schema: text() },
  jwt_issuer: { help: 'Required `iss`.', schema: text() },
  jwt_audience: { help: 'Required `aud`.', schema: text() },
  jwt_clock_tolerance: { help: 'Clock skew allowed for exp/nbf.', default: '30s', schema: duration() },
  admin_workspace_access: { help: 'Let admins open other users\' workspaces (same origin: off by default).', default: 'false', schema: bool() },
  cookie_name: { help: 'Name of the auth cookie.', default: 'workspace_token', schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, _ or -') },
  login_url: { help: 'Where browsers without a valid token are sent (with ?next=).', schema: text() },
  trusted_proxies: { help: 'Edge proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-* headers are believed and appended to.', default: '', schema: list().refine((l) => l.every(isAddressOrCidr), 'expected IP addresses or CIDRs like 10.0.0.0/8') },
  ws_token_grace: { help: 'Open WebSockets are closed this long after the token they were opened with expires.', default: '60s', schema: duration() },
  start_rate_limit: { help: 'Start/stop/create API calls allowed per user per minute (0 = no limit).', default: '10', schema: int(0, 100_000) },
  headers_timeout: {
    help: 'Time a client has to send its request head (slow clients get 408 and are closed). One limit for everyone: who the client is is known only once the head is complete.',
    default: '20s',
    schema: timeout(),
  },
  body_timeout: {
    help: 'An authenticated request body that sends no byte for this long is cut off (408 if nothing was answered yet). An unauthenticated body is never read: the answer goes out and the connection is closed.',
    default: '60s',
    schema: timeout(),
  },
  restore_timeout: { help: 'Longest a backup restore (PUT /api/workspaces/<user>/backup) may take in total; the only long request (408 after it).', default: '30m', schema: timeout() },
  max_connections_per_client: {
    help: 'Connections one client address (an IPv6 /64) may hold open at once, WebSockets included; more get 429 and are closed (0 = no cap). Not applied to GATEWAY_TRUSTED_PROXIES: behind an edge proxy, limit per client there. Counted per process.',
    default: '256',
    schema: int(0, 1_000_000),
  },
  max_websockets_per_user: {
    help: 'WebSockets one user may hold open at once (an editor tab keeps 2); more are refused with 429 before the workspace sees them (0 = no cap). Counted per process.',
    default: '64',
    schema: int(0, 1_000_000),
  },
  max_url_length: { help: 'Longest request target accepted (longer: 414).', default: '8192', schema: int(256, 65536) },
  max_api_body: { help: 'Largest body accepted by API calls other than a restore.', default: '65536', schema: bytes() },
  allowed_origins: { help: 'Extra origins allowed for WebSockets and API calls, comma-separated.', default: '', schema: list() },

  image: { help: 'Workspace image.', default: 'apra-nova-code-server:latest', schema: text() },
  network: { help: 'Private network workspaces join (created with container-to-container traffic off).', default: 'apranova_network', schema: text() },
  workspace_port: { help: 'Port the editor listens on inside the workspace.', default: '8080', schema: int(1, 65535) },
  container_prefix: { help: 'Container name prefix; the volume is <prefix><user>_data.', default: 'workspace_', schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected a Docker name prefix') },
  storage: { help: 'volume (named volume per user) or bind (folder per user under bind_root).', default: 'volume', schema: z.enum(['volume', 'bind']) },
  bind_root: { help: 'Host folder with one folder per user, for storage=bind.', default: '/app/workspaces', schema: text() },
  workspace_uid: { help: 'uid:gid the workspace runs as (non-root).', default: '1000:1000', schema: z.string().regex(/^[1-9]\d*:\d+$/, 'expected uid:gid with a non-zero uid') },
  cap_add: { help: 'Capabilities kept in workspaces (all others dropped), comma-separated.', default: '', schema: list() },
  memory_limit: { help: 'Memory limit per workspace.', default: '2g', schema: bytes() },
  cpu_limit: { help: 'CPUs per workspace.', default: '0.5', schema: positiveNumber() },
  pids_limit: { help: 'Process limit per workspace.', default: '512', schema: int(16, 1_000_000) },

  strip_prefix: { help: 'Strip /ws/<user> before forwarding (false keeps it).', default: 'true', schema: bool() },
  idle_timeout: { help: 'Stop a workspace after this long without activity.', default: '30m', schema: duration() },
  remove_after: { help: 'Remove a container stopped this long (volumes are kept).', default: '7d', schema: duration() },
  spawn_timeout: { help: 'How long to wait for a workspace to answer after start.', default: '60s', schema: duration() },
  proxy_timeout: { help: 'How long to wait for a running workspace to answer a request.', default: '120s', schema: duration() },
  max_running: { help: 'Running workspaces at most (0 = unlimited).', default: '0', schema: int(0, 1_000_000) },
  evict_idle_after: { help: 'When max_running is reached, stop the least recently active workspace unused this long to make room (unset: refuse with "full").', schema: duration() },
  max_concurrent_spawns: { help: 'Spawns in flight at once; more wait in order.', default: '8', schema: int(1, 10_000) },

  archive_dir: { help: 'Folder where a workspace\'s files are archived (tar.gz) before an admin deletes its volume.', schema: text() },

  log_level: { help: 'fatal, error, warn, info, debug or trace.', default: 'info', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) },
  process_command: { help: 'process runtime: command with {port}, {user}, {home}; must listen on 127.0.0.1:{port}. Default: the bundled demo workspace.', schema: text() },
  data_root: { help: 'process runtime: per-user folders.', default: './data', schema: text() },
} satisfies Record<string, Setting>;

export type SettingKey = keyof typeof settings;

export const envName = (key: string): string => 'GATEWAY_' + key.toUpperCase();
