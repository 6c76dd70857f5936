import { z } from 'zod';
import { text } from '../schemas.js';
import type { SettingGroup } from '../setting.js';

/** What the operator keeps: archives of deleted workspaces, the log. */
export const operationSettings = {
  archive_dir: { help: "Folder where a workspace's files are archived (tar.gz) before an admin deletes its volume.", schema: text() },
  state_dir: {
    help: "Folder for the gateway's own small state (pre-warm jobs), kept across restarts; the engine keeps the rest.",
    default: './state',
    schema: text(),
  },
  log_level: {
    help: 'fatal, error, warn, info, debug or trace.',
    default: 'info',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  },
} satisfies SettingGroup;
