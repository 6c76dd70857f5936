import { bytes, int, list, timeout } from '../schemas.js';
import type { SettingGroup } from '../setting.js';

/** What one client or user may ask of the gateway: rates, time limits, sizes, connections. */
export const requestSettings = {
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
  restore_timeout: {
    help: 'Longest a backup restore (PUT /api/workspaces/<user>/backup) may take in total; the only long request (408 after it).',
    default: '30m',
    schema: timeout(),
  },
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
} satisfies SettingGroup;
