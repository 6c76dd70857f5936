/**
 * The multi-node Swarm test bed for tests (`*.docker.test.ts`): several real
 * Docker engines on this machine, each in its own network namespace, joined
 * into one swarm by `bash scripts/swarm-bed.sh up`. This module only reads the
 * state file the script writes and drives the script; it never builds the bed
 * itself, since that needs root and changes the machine's network.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { z } from 'zod';
import { DOCKER_CLI, type CliResult } from './engine.js';

export const SWARM_BED_SCRIPT = fileURLToPath(new URL('../../scripts/swarm-bed.sh', import.meta.url));
/** Where `swarm-bed.sh up` writes the bed's description (the script honours the same variable). */
export const SWARM_BED_STATE = process.env.SWARM_BED_STATE ?? '/run/wgswarm/bed.json';

const UP = 'bash scripts/swarm-bed.sh up';

const nodeSchema = z.object({
  name: z.string(),
  /** Each engine runs in its own UTS namespace, so `node.hostname==n3` pins a service to n3. */
  hostname: z.string(),
  ip: z.string(),
  socket: z.string(),
  nodeId: z.string().min(1),
  role: z.enum(['manager', 'worker']),
});
const stateSchema = z.object({
  nodes: z.array(nodeSchema).min(2),
  bridge: z.string(),
  hostIp: z.string(),
  images: z.array(z.string()),
  ipvs: z.boolean(),
});

/**
 * One node of the bed. Besides its hostname it carries the label
 * `wgswarm.node=<name>`, so `node.labels.wgswarm.node==n3` pins a service too.
 */
export type SwarmNode = z.infer<typeof nodeSchema>;

export interface SwarmBed {
  nodes: SwarmNode[];
  /** The first node, the only manager. */
  manager: SwarmNode;
  /** Host bridge and the host's address on it. */
  bridge: string;
  hostIp: string;
  /** Image tags loaded into every node (the nodes cannot pull): create services with --no-resolve-image. */
  images: string[];
  /**
   * Whether the kernel has IPVS. Without it (this machine kind) swarm has no
   * virtual IPs and no routing mesh, and the bed has no ingress network:
   * services need endpoint mode dnsrr, and are reached by name or task IP on
   * an attachable overlay network.
   */
  ipvs: boolean;
  /** The node by name (`n1`, `n2`, …); throws for an unknown name. */
  node(name: string): SwarmNode;
  /** A dockerode client on that node's engine. */
  docker(node: SwarmNode | string): Docker;
  /** `/usr/bin/docker -H unix://<socket> …` on that node; resolves with the exit code instead of throwing. */
  cli(node: SwarmNode | string, args: string[], options?: { timeoutMs?: number }): Promise<CliResult>;
  /** Stops the node's engine (SIGTERM, SIGKILL after 20 s); its swarm state stays on disk. */
  stopNode(name: string): Promise<void>;
  /** Starts the node's engine again with the same flags; resolves once the manager sees it Ready again. */
  startNode(name: string): Promise<void>;
}

const clients = new Map<string, Docker>();

/**
 * The bed as `swarm-bed.sh up` left it. Fails loudly when there is none or
 * its manager does not answer: the swarm tests are the proof that workspaces
 * run across nodes, and a silent skip would pass without proving it.
 */
export async function swarmBed(): Promise<SwarmBed> {
  let text: string;
  try {
    text = await readFile(SWARM_BED_STATE, 'utf8');
  } catch (err) {
    throw new Error(`Swarm tests need the swarm test bed and there is none (${(err as Error).message}). Run as root: ${UP}`);
  }
  const parsed = stateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${SWARM_BED_STATE} is not a swarm bed state (${parsed.error.message}). Run again: ${UP}`);
  const state = parsed.data;
  const manager = state.nodes[0]!;
  await requireManager(manager);

  const node = (name: string): SwarmNode => {
    const found = state.nodes.find((n) => n.name === name);
    if (!found) throw new Error(`the swarm bed has no node ${name} (it has ${state.nodes.map((n) => n.name).join(', ')})`);
    return found;
  };
  const resolve = (n: SwarmNode | string): SwarmNode => (typeof n === 'string' ? node(n) : n);
  return {
    ...state,
    manager,
    node,
    docker: (n) => client(resolve(n).socket),
    cli: (n, args, options) => run(DOCKER_CLI, ['-H', `unix://${resolve(n).socket}`, ...args], options?.timeoutMs ?? 60_000),
    stopNode: (name) => script('stop-node', node(name).name),
    startNode: (name) => script('start-node', node(name).name),
  };
}

function client(socket: string): Docker {
  let docker = clients.get(socket);
  if (!docker) clients.set(socket, (docker = new Docker({ socketPath: socket })));
  return docker;
}

/** The manager answers and is a swarm manager (not a stale state file of a bed that was torn down or rebuilt half-way). */
async function requireManager(manager: SwarmNode): Promise<void> {
  let info: { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string } };
  try {
    info = await new Docker({ socketPath: manager.socket, timeout: 10_000 }).info();
  } catch (err) {
    throw new Error(
      `The swarm bed's manager ${manager.name} at ${manager.socket} did not answer (${(err as Error).message}). ` +
        `Rebuild the bed: ${UP} (or, if a test stopped it, bash scripts/swarm-bed.sh start-node ${manager.name})`,
    );
  }
  const swarm = info.Swarm ?? {};
  if (swarm.LocalNodeState !== 'active' || !swarm.ControlAvailable || swarm.NodeID !== manager.nodeId) {
    throw new Error(
      `The engine at ${manager.socket} is not the manager the bed recorded (state ${swarm.LocalNodeState}, node ${swarm.NodeID}). Rebuild the bed: ${UP}`,
    );
  }
}

function script(command: 'stop-node' | 'start-node', name: string): Promise<void> {
  // start-node waits up to a minute for the node to be Ready, stop-node 20 s for the engine to exit.
  return run('bash', [SWARM_BED_SCRIPT, command, name], 120_000).then((r) => {
    if (r.code !== 0) throw new Error(`swarm-bed.sh ${command} ${name} failed (exit ${r.code}): ${r.stderr.trim()}`);
  });
}

function run(file: string, args: string[], timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
