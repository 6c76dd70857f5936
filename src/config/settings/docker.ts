import { z } from 'zod';
import { bytes, int, list, positiveNumber, text } from '../schemas.js';
import type { SettingGroup } from '../setting.js';

/** The docker runtime: the image, the private network, storage and the limits every container gets. */
export const dockerSettings = {
  image: { help: 'Workspace image.', default: 'apra-nova-code-server:latest', schema: text() },
  network: { help: 'Private network workspaces join (created with container-to-container traffic off).', default: 'apranova_network', schema: text() },
  workspace_port: { help: 'Port the editor listens on inside the workspace.', default: '8080', schema: int(1, 65535) },
  container_prefix: {
    help: 'Container name prefix; the volume is <prefix><user>_data.',
    default: 'workspace_',
    schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected a Docker name prefix'),
  },
  storage: { help: 'volume (named volume per user) or bind (folder per user under bind_root).', default: 'volume', schema: z.enum(['volume', 'bind']) },
  bind_root: { help: 'Host folder with one folder per user, for storage=bind.', default: '/app/workspaces', schema: text() },
  workspace_uid: {
    help: 'uid:gid the workspace runs as (non-root).',
    default: '1000:1000',
    schema: z.string().regex(/^[1-9]\d*:\d+$/, 'expected uid:gid with a non-zero uid'),
  },
  cap_add: { help: 'Capabilities kept in workspaces (all others dropped), comma-separated.', default: '', schema: list() },
  memory_limit: { help: 'Memory limit per workspace.', default: '2g', schema: bytes() },
  cpu_limit: { help: 'CPUs per workspace.', default: '0.5', schema: positiveNumber() },
  pids_limit: { help: 'Process limit per workspace.', default: '512', schema: int(16, 1_000_000) },
} satisfies SettingGroup;
