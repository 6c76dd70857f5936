import { bool, duration, int } from '../schemas.js';
import type { SettingGroup } from '../setting.js';

/** The workspaces' lifecycle, whatever runs them: idle stop, removal, spawn timeouts, capacity. */
export const workspaceSettings = {
  strip_prefix: { help: 'Strip /ws/<user> before forwarding (false keeps it).', default: 'true', schema: bool() },
  idle_timeout: { help: 'Stop a workspace after this long without activity.', default: '30m', schema: duration() },
  remove_after: { help: 'Remove a container stopped this long (volumes are kept).', default: '7d', schema: duration() },
  spawn_timeout: { help: 'How long to wait for a workspace to answer after start.', default: '60s', schema: duration() },
  proxy_timeout: { help: 'How long to wait for a running workspace to answer a request.', default: '120s', schema: duration() },
  max_running: { help: 'Running workspaces at most (0 = unlimited).', default: '0', schema: int(0, 1_000_000) },
  evict_idle_after: {
    help: 'When max_running is reached, stop the least recently active workspace unused this long to make room (unset: refuse with "full").',
    schema: duration(),
  },
  max_concurrent_spawns: { help: 'Spawns in flight at once; more wait in order.', default: '8', schema: int(1, 10_000) },
} satisfies SettingGroup;
