import { z } from 'zod';
import { list, text } from '../schemas.js';
import type { SettingGroup } from '../setting.js';

/** `node=engine` pairs: which engine holds the volumes of a swarm node. */
const nodeEngines = () =>
  list().pipe(
    z.array(
      z
        .string()
        .regex(/^[^=\s]+=(unix:\/\/\/\S+|tcp:\/\/[^\s/]+:\d+)$/, 'expected node=unix:///path or node=tcp://host:port')
        .transform((pair) => {
          const at = pair.indexOf('=');
          return { node: pair.slice(0, at), engine: pair.slice(at + 1) };
        }),
    ),
  );

/**
 * The swarm runtime: what it needs beyond the docker runtime's settings
 * (image, port, prefix, uid, capabilities, limits), which it reads too.
 */
export const swarmSettings = {
  swarm_gateway_container: {
    help: 'swarm runtime: the container the gateway runs in, joined to each workspace network. Default: this host name (Docker sets it to the container id).',
    schema: text(),
  },
  swarm_volume_driver: {
    help: 'swarm runtime: a volume driver that spans nodes. Unset: a volume stays on the node where its workspace first ran, and the workspace is pinned there.',
    schema: text(),
  },
  swarm_node_engines: {
    help: 'swarm runtime: node=engine pairs (node id or hostname; unix:///path or tcp://host:port, TLS from DOCKER_CERT_PATH) for backup, restore and data removal on the node holding a volume.',
    default: '',
    schema: nodeEngines(),
  },
} satisfies SettingGroup;
