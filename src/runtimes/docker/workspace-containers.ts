import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import type { DockerSettings } from '../../config/settings.js';
import { SpawnFailedError } from '../../errors.js';
import type { EngineClient } from '../engine/engine-client.js';
import { statusOf } from '../engine/engine-errors.js';
import { LABEL } from '../engine/labels.js';
import { containerSpec } from './container-spec.js';
import { containerName } from './names.js';
import type { WorkspaceData } from './workspace-data.js';

/** Grace the editor gets between SIGTERM and SIGKILL. */
const STOP_GRACE_SECONDS = 10;
/** How long the loser of a create race waits for the winner's container. */
const CREATE_RACE_WAIT_MS = 10_000;

/** The engine calls on one user's container, by name: the container is the user's workspace. */
export class WorkspaceContainers {
  constructor(
    private readonly client: EngineClient,
    private readonly settings: DockerSettings,
    private readonly data: WorkspaceData,
  ) {}

  inspect(user: string): Promise<Docker.ContainerInspectInfo | undefined> {
    const container = this.client.docker.getContainer(containerName(this.settings, user));
    return this.client.find('inspect container', (abortSignal) => container.inspect({ abortSignal }));
  }

  /** A stopped container built from other settings than today's is replaced (its data stays). */
  isStale(c: Docker.ContainerInspectInfo): boolean {
    return c.Config.Labels?.[LABEL.image] !== this.settings.image || c.HostConfig.NetworkMode !== this.settings.network;
  }

  /**
   * Creates the user's container (and storage) unless a concurrent creator
   * holds the name, and inspects it. `created` says whether this call made it.
   */
  async create(user: string): Promise<{ container: Docker.ContainerInspectInfo; created: boolean }> {
    const deadline = Date.now() + CREATE_RACE_WAIT_MS;
    for (let round = 1; ; round++) {
      const created = await this.createOnce(user);
      const container = await this.inspect(user);
      if (container) return { container, created };
      if (created) throw new SpawnFailedError(`the container ${containerName(this.settings, user)} disappeared right after it was created`);
      // The engine reserves the name before the container can be inspected, so
      // the loser of a create race may briefly see neither. Asking to create
      // again is cheap (409 while the winner works) and takes over if it failed.
      if (Date.now() > deadline) throw new SpawnFailedError(`another request is creating ${containerName(this.settings, user)} and it did not appear`);
      await sleep(Math.min(50 * round, 250));
    }
  }

  /** Starts (or unpauses) a container; false when a concurrent start won (304). */
  async start(c: Docker.ContainerInspectInfo): Promise<boolean> {
    const container = this.client.docker.getContainer(c.Id);
    try {
      if (c.State.Paused) await this.client.call('unpause container', (abortSignal) => container.unpause({ abortSignal }));
      else await this.client.call('start container', (abortSignal) => container.start({ abortSignal }));
      return true;
    } catch (err) {
      if (statusOf(err) === 304) return false;
      throw err;
    }
  }

  async stop(user: string): Promise<void> {
    const container = this.client.docker.getContainer(containerName(this.settings, user));
    try {
      await this.client.call(
        'stop container',
        (abortSignal) => container.stop({ t: STOP_GRACE_SECONDS, abortSignal }),
        STOP_GRACE_SECONDS * 1000 + this.client.requestTimeoutMs,
      );
    } catch (err) {
      // 304: already stopped.
      if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
    }
  }

  async remove(user: string): Promise<void> {
    const container = this.client.docker.getContainer(containerName(this.settings, user));
    await this.client.find('remove container', (abortSignal) => container.remove({ force: true, abortSignal }));
  }

  private async imageExists(): Promise<boolean> {
    const image = this.client.docker.getImage(this.settings.image);
    // dockerode's image inspect takes no abort signal; the request deadline still bounds it.
    return (await this.client.find('inspect image', () => image.inspect())) !== undefined;
  }

  /** True when this call created the container, false when a concurrent creator holds the name. */
  private async createOnce(user: string): Promise<boolean> {
    const spec = containerSpec(user, this.settings, await this.data.mount(user));
    try {
      await this.client.call('create container', (abortSignal) => this.client.docker.createContainer({ ...spec, abortSignal }));
      return true;
    } catch (err) {
      // 409: a concurrent creator (another request, another gateway) won; use theirs.
      if (statusOf(err) === 409) return false;
      // 404: the image or the network is missing; asking for the image tells which, without reading the message.
      if (statusOf(err) === 404 && !(await this.imageExists())) {
        throw new SpawnFailedError(`the image ${this.settings.image} is missing on the engine (the gateway never pulls images; build or load it there first)`);
      }
      throw err;
    }
  }
}
