import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import type { Logger } from 'pino';
import type { SwarmSettings } from '../../config/settings.js';
import { ConfigError } from '../../config/load.js';
import { BadRequestError, GatewayError, NotFoundError, SpawnFailedError } from '../../errors.js';
import { type Attempt, undoOnceSettled, unlessAborted } from '../cancellable.js';
import { EngineClient } from '../engine/engine-client.js';
import { asSpawnFailure } from '../engine/engine-errors.js';
import { engineEvents } from '../engine/engine-events.js';
import { LABEL } from '../engine/labels.js';
import type { Runtime, RuntimeEvent, RuntimeProgress, StartOptions, WorkspaceInfo } from '../runtime.js';
import { connectable } from './connectable.js';
import { NodeEngines } from './node-engines.js';
import { STOP_GRACE_SECONDS, type EngineFeatures } from './service-spec.js';
import type { SwarmNode, SwarmTask, SwarmService } from './swarm-objects.js';
import { SwarmStorage } from './swarm-storage.js';
import { pollEvents } from './task-events.js';
import { currentTask, HOST_UNAVAILABLE, pinnedNode, replicasOf, unavailable, workspaceOfService } from './task-state.js';
import { WorkspaceNetworks } from './workspace-networks.js';
import { WorkspaceServices } from './workspace-services.js';

export interface SwarmRuntimeOptions {
  settings: SwarmSettings;
  logger: Logger;
  /** A manager's engine; defaults to DOCKER_HOST or the local socket. */
  docker?: Docker;
  /** Longest wait for one engine request. */
  requestTimeoutMs?: number;
  /** How often the task states are read for events (the engine's event stream has none for tasks). */
  pollIntervalMs?: number;
}

/** How long a task may stay unplaceable ("no suitable node") before the start fails with that reason. */
const UNPLACEABLE_GRACE_MS = 2_000;
/** How long a workspace reported running waits, after the gateway just joined its network, to be reachable. */
const FRESH_JOIN_WAIT_MS = 10_000;
/** How long a start waits for swarm to make the task it asked for before it asks again. */
const NEW_TASK_WAIT_MS = 5_000;
/** Engine API version from which a service can be given no-new-privileges. */
const NO_NEW_PRIVILEGES_API = 1.46;

/**
 * One swarm service per user on a Docker Swarm cluster, through a manager's
 * API: one replica while running, scaled to 0 to stop (the service, its
 * labels and its volume stay), placed by swarm's scheduler and then pinned to
 * the node holding its volume. Each workspace has an overlay network of its
 * own that only it and the gateway's container join (see WorkspaceNetworks).
 * The instance id is the task id: a new one on every start.
 */
export class SwarmRuntime implements Runtime {
  readonly name = 'swarm';
  readonly storage?: SwarmStorage;
  private readonly settings: SwarmSettings;
  private readonly logger: Logger;
  private readonly client: EngineClient;
  private readonly services: WorkspaceServices;
  private readonly networks: WorkspaceNetworks;
  private readonly pollIntervalMs: number;
  private readonly starts = new Map<string, { work: Promise<WorkspaceInfo>; attempt: Attempt }>();
  private features?: Promise<EngineFeatures>;

  constructor(options: SwarmRuntimeOptions) {
    this.settings = options.settings;
    if (this.settings.storage !== 'volume') throw new ConfigError(['GATEWAY_STORAGE: the swarm runtime keeps workspace files in volumes (storage=volume)']);
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(this.settings.container_prefix)) {
      throw new ConfigError(['GATEWAY_CONTAINER_PREFIX: a swarm service name takes letters, digits, - and _ only']);
    }
    this.logger = options.logger.child({ runtime: 'swarm' });
    const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.client = new EngineClient(options.docker ?? new Docker(), requestTimeoutMs);
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.services = new WorkspaceServices(this.client, this.settings, () => this.engineFeatures());
    this.networks = new WorkspaceNetworks(this.client, this.settings, this.settings.swarm_gateway_container ?? hostname());
    const engines = new NodeEngines(this.settings.swarm_node_engines, requestTimeoutMs);
    if (engines.configured) this.storage = new SwarmStorage(this.services, engines, this.settings, this.logger, (user) => this.placeData(user, engines));
  }

  async prepare(): Promise<void> {
    await this.client.ping();
    const info = (await this.client.call('engine info', () => this.client.docker.info())) as {
      Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean };
    };
    if (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable) {
      throw new GatewayError('engine_error', 502, 'the swarm runtime needs the engine of a swarm manager (DOCKER_HOST or the socket); this engine is not one');
    }
    await this.networks.checkGateway();
  }

  start(user: string, { signal, onProgress }: StartOptions = {}): Promise<WorkspaceInfo> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    // Concurrent starts of one user share one: two would each ask swarm for a fresh task after one that ended.
    let shared = this.starts.get(user);
    if (!shared) {
      const attempt: Attempt = { changed: false };
      shared = { work: this.bringUp(user, attempt, signal, onProgress).finally(() => this.starts.delete(user)), attempt };
      this.starts.set(user, shared);
    }
    const { work, attempt } = shared;
    return unlessAborted(work, signal).catch((err: unknown) => {
      if (signal?.aborted) {
        undoOnceSettled(work, attempt, () => this.stop(user), this.logger, user);
        throw signal.reason;
      }
      const failure = asSpawnFailure(err);
      if (failure.detail) this.logger.warn({ user, code: failure.code, detail: failure.detail }, 'the swarm could not start a workspace');
      throw failure;
    });
  }

  async inspect(user: string): Promise<WorkspaceInfo> {
    const service = await this.services.inspect(user);
    if (!service) return { user, state: 'absent' };
    return this.reachable(workspaceOfService(user, service, await this.services.picture([service]), this.settings));
  }

  async stop(user: string): Promise<void> {
    const service = await this.services.inspect(user);
    if (!service) return;
    if (replicasOf(service) !== 0) await this.services.update(user, { replicas: 0 });
    // Resolves once the editor has ended (swarm sends SIGTERM, then SIGKILL after the grace period).
    const deadline = Date.now() + (STOP_GRACE_SECONDS + 5) * 1000;
    while (Date.now() < deadline) {
      const tasks = await this.services.tasks([service]);
      if (!tasks.some((t) => t.Status?.State === 'running' || t.Status?.State === 'starting')) break;
      await sleep(200);
    }
  }

  async remove(user: string, options: { volume?: boolean } = {}): Promise<void> {
    const service = await this.services.inspect(user);
    const node = service && (pinnedNode(service) ?? currentTask(service, await this.services.tasks([service]))?.NodeID);
    if (service) await this.services.remove(user);
    await this.networks.remove(user);
    if (!options.volume) return;
    if (!this.storage)
      throw new GatewayError(
        'no_storage',
        501,
        "Removing a workspace's files on a swarm needs the engine of the node holding them (GATEWAY_SWARM_NODE_ENGINES).",
      );
    await this.storage.removeVolume(user, node);
  }

  /**
   * An admin's move to another node: stops the workspace, copies its files
   * there through both nodes' engines (removing them from the old one), and
   * pins the service to the new node, where the next wake starts it.
   */
  async move(user: string, host: string): Promise<void> {
    if (this.settings.swarm_volume_driver)
      throw new BadRequestError('workspaces are not tied to a node here (GATEWAY_SWARM_VOLUME_DRIVER): there is nothing to move');
    if (!this.storage)
      throw new GatewayError('no_storage', 501, 'Moving a workspace needs the engines of the nodes holding its files (GATEWAY_SWARM_NODE_ENGINES).');
    const service = await this.services.inspect(user);
    if (!service) throw new NotFoundError(`${user} has no workspace to move`, 'no_workspace');
    const target = [...(await this.services.nodes()).values()].find((n) => n.ID === host || n.Description?.Hostname === host);
    if (!target || unavailable(target)) throw new BadRequestError(`no ready node ${host} in the cluster`);
    await this.stop(user);
    const from = await this.storage.move(user, target);
    await this.services.update(user, { replicas: 0, node: target.ID });
    this.logger.info({ user, from: from?.ID, to: target.ID }, 'moved a workspace to another node');
  }

  async list(): Promise<WorkspaceInfo[]> {
    const services = await this.services.list();
    const picture = await this.services.picture(services);
    const infos: WorkspaceInfo[] = [];
    for (const service of services) {
      const user = service.Spec?.Labels?.[LABEL.user];
      if (user) infos.push(workspaceOfService(user, service, picture, this.settings));
    }
    return Promise.all(infos.map((info) => this.reachable(info)));
  }

  events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    // Service and node changes as the manager tells them, each a reason to list now rather than at the next tick
    // (not filtered by label: node events carry none of ours).
    const nudges = engineEvents(this.client, { type: ['service', 'node'] }, signal, this.logger);
    return pollEvents(() => this.list(), nudges, this.pollIntervalMs, signal, this.logger);
  }

  async close(): Promise<void> {
    // Nothing held open: dockerode keeps no connections between requests, and the poller ends with its consumer's signal.
  }

  private engineFeatures(): Promise<EngineFeatures> {
    this.features ??= this.client
      .call('engine version', () => this.client.docker.version())
      .then((v) => ({ noNewPrivileges: Number(v.ApiVersion) >= NO_NEW_PRIVILEGES_API }))
      .catch((err: unknown) => {
        this.features = undefined;
        throw err;
      });
    return this.features;
  }

  /**
   * A running workspace this gateway reports is one it can reach: joined to
   * its network first (once per process), as one started by another gateway,
   * or before this gateway's restart, may not be.
   */
  private async reachable(info: WorkspaceInfo): Promise<WorkspaceInfo> {
    if (info.state !== 'running') return info;
    // A fresh join learns where the network's other members are by gossip, a moment after the engine answers.
    if ((await this.networks.join(info.user)) === 'joined now' && info.endpoint) await connectable(info.endpoint, FRESH_JOIN_WAIT_MS);
    return info;
  }

  private async bringUp(user: string, attempt: Attempt, signal?: AbortSignal, onProgress?: (progress: RuntimeProgress) => void): Promise<WorkspaceInfo> {
    await this.networks.create(user);
    await this.networks.join(user);
    let previous: string | undefined;
    const service = await this.services.inspect(user);
    signal?.throwIfAborted();
    if (!service) {
      onProgress?.({ phase: 'creating', detail: 'Creating your workspace' });
      attempt.changed ||= await this.services.create(user, { replicas: 1 });
    } else {
      const picture = await this.services.picture([service]);
      const pin = pinnedNode(service);
      if (pin && unavailable(picture.nodes.get(pin)))
        throw new SpawnFailedError(`${HOST_UNAVAILABLE}; it comes back when its host does`, `node ${pin} is not ready`);
      const info = workspaceOfService(user, service, picture, this.settings);
      // A running workspace keeps its image until it stops; the update that wakes it brings today's.
      if (replicasOf(service) === 0 || info.state === 'stopped' || info.state === 'error') {
        const was = service.Spec?.Labels?.[LABEL.image];
        if (was !== this.settings.image) this.logger.info({ user, was, image: this.settings.image }, 'starting a workspace with the current image');
        previous = currentTask(service, picture.tasks)?.ID;
        // Always a fresh task: swarm at times answers a scale from 0 to 1 with none at all.
        await this.services.update(user, { replicas: 1, restart: true });
        attempt.changed = true;
      }
    }
    return this.untilRunning(user, previous, signal, onProgress);
  }

  /** Follows the user's new task until it runs; fails with its reason when it cannot be placed or ends. */
  private async untilRunning(
    user: string,
    previous: string | undefined,
    signal?: AbortSignal,
    onProgress?: (progress: RuntimeProgress) => void,
  ): Promise<WorkspaceInfo> {
    let placedOn: string | undefined;
    let unplaceableSince: number | undefined;
    const began = Date.now();
    let nudges = 1;
    for (let round = 0; ; round++) {
      signal?.throwIfAborted();
      const service = await this.services.inspect(user);
      if (!service) throw new SpawnFailedError('its service was removed while it started');
      const picture = await this.services.picture([service]);
      const task = currentTask(service, picture.tasks);
      // Until swarm has made the new task, the newest one is the one that ended; one that is long in coming is asked for again.
      if (!task || task.ID === previous) {
        if (Date.now() - began > NEW_TASK_WAIT_MS * nudges) {
          nudges++;
          this.logger.warn({ user }, 'swarm made no task for a workspace it was asked to run; asking again');
          await this.services.update(user, { replicas: 1, restart: true });
        }
      } else {
        if (task.NodeID && task.NodeID !== placedOn) {
          placedOn = task.NodeID;
          onProgress?.({ phase: 'starting', detail: `Starting on ${nodeName(picture.nodes.get(task.NodeID), task.NodeID)}` });
          signal?.throwIfAborted();
        }
        const info = workspaceOfService(user, service, picture, this.settings);
        if (info.state === 'running') {
          if (!info.endpoint) throw new SpawnFailedError(`the task runs but has no address on its network`);
          await this.pinWhereItRuns(user, service, task);
          return info;
        }
        if (info.state === 'error' && info.reason?.startsWith('no host')) {
          unplaceableSince ??= Date.now();
          if (Date.now() - unplaceableSince < UNPLACEABLE_GRACE_MS) info.state = 'creating';
        }
        if (info.state === 'error') throw new SpawnFailedError(info.reason ?? 'it failed', info.detail);
        if (info.state === 'stopped') throw new SpawnFailedError('it was stopped while it started');
      }
      await sleep(Math.min(100 * 1.5 ** round, 500));
    }
  }

  /** A workspace's volume is where its first task ran: the service is pinned there, unless a volume driver spans the nodes. */
  private async pinWhereItRuns(user: string, service: SwarmService, task: SwarmTask): Promise<void> {
    if (this.settings.swarm_volume_driver || pinnedNode(service) || !task.NodeID) return;
    await this.services.update(user, { replicas: replicasOf(service) === 0 ? 0 : 1, node: task.NodeID });
    this.logger.info({ user, node: task.NodeID }, 'pinned a workspace to the node holding its volume');
  }

  /** A new user's data goes to the ready node with an engine and the fewest pinned workspaces; their service is pinned there. */
  private async placeData(user: string, engines: NodeEngines): Promise<SwarmNode> {
    const [nodes, services] = await Promise.all([this.services.nodes(), this.services.list()]);
    const load = (node: SwarmNode) => services.filter((s) => pinnedNode(s) === node.ID).length;
    const candidates = [...nodes.values()].filter((n) => !unavailable(n) && engines.of(n)).sort((a, b) => load(a) - load(b));
    const node = candidates[0];
    if (!node) throw new GatewayError('engine_unavailable', 503, 'No node of the cluster with a configured engine is ready to hold workspace files.');
    await this.networks.create(user);
    if (!(await this.services.create(user, { replicas: 0, node: node.ID }))) {
      const existing = await this.services.inspect(user);
      const pin = existing && pinnedNode(existing);
      if (pin) return nodes.get(pin) ?? node;
      await this.services.update(user, { replicas: existing && replicasOf(existing) === 1 ? 1 : 0, node: node.ID });
    }
    return node;
  }
}

const nodeName = (node: SwarmNode | undefined, id: string): string => node?.Description?.Hostname ?? id;
