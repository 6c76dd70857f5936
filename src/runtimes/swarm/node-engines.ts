import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { EngineClient } from '../engine/engine-client.js';
import type { SwarmNode } from './swarm-objects.js';

/** A node's engine as given in GATEWAY_SWARM_NODE_ENGINES. */
export interface NodeEngineSetting {
  node: string;
  engine: string;
}

/** dockerode for `unix:///path` or `tcp://host:port` (TLS with the docker CLI's DOCKER_CERT_PATH files when that is set). */
function dockerAt(engine: string): Docker {
  if (engine.startsWith('unix://')) return new Docker({ socketPath: engine.slice('unix://'.length) });
  const { hostname, port } = new URL(engine);
  const certs = process.env.DOCKER_CERT_PATH;
  if (!certs) return new Docker({ host: hostname, port: Number(port), protocol: 'http' });
  const read = (file: string) => readFileSync(join(certs, file));
  return new Docker({ host: hostname, port: Number(port), protocol: 'https', ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') });
}

/**
 * The engines of the nodes, for what the manager's API cannot do: a local
 * volume lives on one node, and only that node's engine reads, writes or
 * removes it. Nodes are named by id or hostname.
 */
export class NodeEngines {
  private readonly byName = new Map<string, EngineClient>();

  constructor(settings: NodeEngineSetting[], requestTimeoutMs: number) {
    for (const { node, engine } of settings) this.byName.set(node, new EngineClient(dockerAt(engine), requestTimeoutMs));
  }

  get configured(): boolean {
    return this.byName.size > 0;
  }

  /** The engine of a node, found by its id or its hostname. */
  of(node: SwarmNode): EngineClient | undefined {
    return this.byName.get(node.ID) ?? (node.Description?.Hostname ? this.byName.get(node.Description.Hostname) : undefined);
  }
}
