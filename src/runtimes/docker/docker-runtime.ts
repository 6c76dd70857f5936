import Docker from 'dockerode';
import type { Logger } from 'pino';
import type { DockerSettings } from '../../config/settings.js';
import { SpawnFailedError } from '../../errors.js';
import { type Attempt, undoOnceSettled, unlessAborted } from '../cancellable.js';
import { EngineClient } from '../engine/engine-client.js';
import { asSpawnFailure, statusOf } from '../engine/engine-errors.js';
import { engineEvents } from '../engine/engine-events.js';
import { LABEL, scopeLabels } from '../engine/labels.js';
import type { Runtime, RuntimeEvent, RuntimeProgress, StartOptions, WorkspaceInfo } from '../runtime.js';
import { CONTAINER_EVENTS, runtimeEventOf, workspaceOfContainer, workspacesOfListing } from './container-state.js';
import { DockerStorage } from './docker-storage.js';
import { containerName } from './names.js';
import { ensureIsolatedNetwork } from './network.js';
import { WorkspaceContainers } from './workspace-containers.js';
import { WorkspaceData } from './workspace-data.js';

export interface DockerRuntimeOptions {
  settings: DockerSettings;
  logger: Logger;
  /** Defaults to the engine of DOCKER_HOST or the local socket. Should have no global `timeout`: it would cut the event stream. */
  docker?: Docker;
  /** Longest wait for one engine request (the event stream excepted). */
  requestTimeoutMs?: number;
}

/**
 * One container per user on one Docker Engine, on a bridge network whose
 * containers cannot reach each other (ICC off): the gateway, on the host side
 * of the bridge, is the only one that reaches an editor. No port is published.
 * The container id stays across stop and start; a re-created container has a new one.
 */
export class DockerRuntime implements Runtime {
  readonly name = 'docker';
  readonly storage: DockerStorage;
  private readonly settings: DockerSettings;
  private readonly logger: Logger;
  private readonly client: EngineClient;
  private readonly data: WorkspaceData;
  private readonly containers: WorkspaceContainers;
  private network?: Promise<void>;

  constructor(options: DockerRuntimeOptions) {
    this.settings = options.settings;
    this.logger = options.logger.child({ runtime: 'docker' });
    this.client = new EngineClient(options.docker ?? new Docker(), options.requestTimeoutMs ?? 30_000);
    this.data = new WorkspaceData(this.client, this.settings, this.logger);
    this.containers = new WorkspaceContainers(this.client, this.settings, this.data);
    this.storage = new DockerStorage(this.client, this.settings, this.containers, this.data, this.logger, () => this.isolatedNetwork());
  }

  async prepare(): Promise<void> {
    await this.client.ping();
    await this.isolatedNetwork();
  }

  async start(user: string, { signal, onProgress }: StartOptions = {}): Promise<WorkspaceInfo> {
    signal?.throwIfAborted();
    await this.isolatedNetwork();
    const attempt: Attempt = { changed: false };
    const work = this.bringUp(user, attempt, signal, onProgress);
    try {
      return await unlessAborted(work, signal);
    } catch (err) {
      if (signal?.aborted) {
        undoOnceSettled(work, attempt, () => this.containers.stop(user), this.logger, user);
        throw signal.reason;
      }
      // A 404 that is not the image is the network, removed behind the gateway's back: check it again next time.
      if (statusOf(err) === 404) this.network = undefined;
      const failure = asSpawnFailure(err);
      if (failure.detail) this.logger.warn({ user, code: failure.code, detail: failure.detail }, 'the engine could not start a workspace');
      throw failure;
    }
  }

  async inspect(user: string): Promise<WorkspaceInfo> {
    const container = await this.containers.inspect(user);
    return container ? workspaceOfContainer(user, container, this.settings) : { user, state: 'absent' };
  }

  stop(user: string): Promise<void> {
    return this.containers.stop(user);
  }

  async remove(user: string, options: { volume?: boolean } = {}): Promise<void> {
    await this.containers.remove(user);
    if (options.volume) await this.data.remove(user);
  }

  async list(): Promise<WorkspaceInfo[]> {
    // One request however many workspaces exist.
    const containers = await this.client.call('list containers', (abortSignal) =>
      this.client.docker.listContainers({ all: true, filters: { label: scopeLabels(this.settings.instance) }, abortSignal }),
    );
    return workspacesOfListing(containers, this.settings);
  }

  async *events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    const filters = { type: ['container'], label: scopeLabels(this.settings.instance), event: CONTAINER_EVENTS };
    for await (const item of engineEvents(this.client, filters, signal, this.logger)) {
      if (item.kind === 'gap') yield item;
      else {
        const event = runtimeEventOf(item.event, this.settings.instance);
        if (event) yield event;
      }
    }
  }

  async close(): Promise<void> {
    // Nothing to release: dockerode keeps no connections open between
    // requests, and event streams end with the signal their consumer holds.
  }

  /** The workspace network, checked (and created) once; a failed check is tried again next time. */
  private isolatedNetwork(): Promise<void> {
    this.network ??= ensureIsolatedNetwork(this.client, this.settings, this.logger).catch((err: unknown) => {
      this.network = undefined;
      throw err;
    });
    return this.network;
  }

  private async bringUp(user: string, attempt: Attempt, signal?: AbortSignal, onProgress?: (progress: RuntimeProgress) => void): Promise<WorkspaceInfo> {
    let current = await this.containers.inspect(user);
    if (current && current.State.Status !== 'running' && this.containers.isStale(current)) {
      this.logger.info(
        { user, was: current.Config.Labels?.[LABEL.image], image: this.settings.image },
        're-creating a stopped workspace with the current image',
      );
      await this.containers.remove(user);
      current = undefined;
    }
    if (!current) {
      signal?.throwIfAborted();
      onProgress?.({ phase: 'creating', detail: 'Creating your workspace' });
      const made = await this.containers.create(user);
      attempt.changed ||= made.created;
      current = made.container;
    }
    if (current.State.Status !== 'running') {
      signal?.throwIfAborted();
      onProgress?.({ phase: 'starting', detail: 'Starting your workspace' });
      if (await this.containers.start(current)) attempt.changed = true;
      current = await this.containers.inspect(user);
      if (!current) throw new SpawnFailedError(`the container ${containerName(this.settings, user)} was removed while it started`);
    }
    const info = workspaceOfContainer(user, current, this.settings);
    if (info.state !== 'running') throw new SpawnFailedError(info.reason ?? `the container is ${current.State.Status}`, info.detail);
    if (!info.endpoint) throw new SpawnFailedError(`the container runs but has no address on network ${this.settings.network}`);
    return info;
  }
}
