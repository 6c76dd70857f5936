import { createHash } from 'node:crypto';
import type { DockerSettings } from '../../config/settings.js';

export { volumeName } from '../docker/names.js';

/** What swarm accepts as a service name: a DNS label (letters and digits, `-` or `_` only between them), at most 63 characters. */
const SERVICE_NAME = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
const MAX_NAME = 63;

/**
 * The user's service: `<prefix><user>` where that is a valid name, else a
 * readable part of it plus a hash of the user (user names may hold dots or end
 * in `-`, and may be longer). Deterministic, so two gateways racing to create
 * one user's service collide on the name; the user label, not the name, says
 * whose a service is (see WorkspaceServices.inspect).
 */
export function serviceName(settings: Pick<DockerSettings, 'container_prefix'>, user: string): string {
  const plain = `${settings.container_prefix}${user}`;
  if (plain.length <= MAX_NAME && SERVICE_NAME.test(plain)) return plain;
  const hash = createHash('sha256').update(user).digest('hex').slice(0, 10);
  const readable = plain
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .slice(0, MAX_NAME - hash.length - 1)
    .replace(/[^A-Za-z0-9]+$/, '');
  return `${readable}-${hash}`;
}

/** The user's own overlay network: only their workspace and the gateway join it. */
export const networkName = (settings: Pick<DockerSettings, 'container_prefix'>, user: string): string => `${serviceName(settings, user)}_net`;
