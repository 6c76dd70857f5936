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
  idle_warning: {
    help: 'An open editor tab shows a notice with a "Keep working" button this long before an idle stop (0 = no notice).',
    default: '2m',
    schema: duration(),
  },
  prewarm_max_users: { help: 'Users in one pre-warm job at most.', default: '1000', schema: int(1, 100_000) },
  prewarm_max_hold: { help: 'Longest holdFor a pre-warm job may ask for.', default: '12h', schema: duration() },
} satisfies SettingGroup;
