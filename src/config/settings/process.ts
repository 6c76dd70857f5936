import { text } from '../schemas.js';
import type { SettingGroup } from '../setting.js';

/** The process runtime: the command each workspace runs and where its folder lives. */
export const processSettings = {
  process_command: {
    help: 'process runtime: command with {port}, {user}, {home}; must listen on 127.0.0.1:{port}. Default: the bundled demo workspace.',
    schema: text(),
  },
  data_root: { help: 'process runtime: per-user folders.', default: './data', schema: text() },
} satisfies SettingGroup;
