import { z } from 'zod';
import { int, text, url } from '../schemas.js';
import type { SettingGroup } from '../setting.js';

/** Where the gateway listens, how many processes serve, and which runtime runs the workspaces. */
export const gatewaySettings = {
  host: { help: 'Address to listen on.', default: '0.0.0.0', schema: text() },
  port: { help: 'Port to listen on (0 picks a free one).', default: '8080', schema: int(0, 65535) },
  workers: {
    help: 'Processes that proxy on the port. 1: this process does everything. More: a leader process spawns, stops and answers the API, and that many workers proxy to running workspaces (uses more cores).',
    default: '1',
    schema: int(1, 64),
  },
  public_url: {
    help: 'Public base URL (e.g. https://lms.example.edu); derived from the request when unset.',
    schema: url().transform((v) => v.replace(/\/+$/, '')),
  },
  runtime: { help: 'Where workspaces run: docker, swarm or process.', default: 'docker', schema: z.enum(['docker', 'swarm', 'process']) },
  instance: {
    help: 'Label value that scopes the workspaces this gateway owns (several gateways can share one engine).',
    default: 'default',
    schema: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'expected 1-63 letters, digits, _ . -'),
  },
} satisfies SettingGroup;
