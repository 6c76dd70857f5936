import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { DockerSettings } from '../../config/settings.js';
import type { EngineClient } from '../engine/engine-client.js';
import type { RuntimeStorage } from '../runtime.js';
import { noWorkspaceData, packFolder, parseOwner, unpackInto } from '../workspace-tar.js';
import { readWorkspaceArchive, writeWorkspaceArchive } from './container-archive.js';
import { bindFolder } from './names.js';
import type { WorkspaceContainers } from './workspace-containers.js';
import type { WorkspaceData } from './workspace-data.js';

/**
 * A workspace's files through the engine's archive API on the workspace's
 * own container (created, not started, when there is none), or straight on
 * the host folder with storage=bind.
 */
export class DockerStorage implements RuntimeStorage {
  constructor(
    private readonly client: EngineClient,
    private readonly settings: DockerSettings,
    private readonly containers: WorkspaceContainers,
    private readonly data: WorkspaceData,
    private readonly logger: Logger,
    /** Makes sure a container may be created (the workspace network). */
    private readonly prepare: () => Promise<void>,
  ) {}

  exists(user: string): Promise<boolean> {
    return this.data.exists(user);
  }

  async backup(user: string): Promise<Readable> {
    if (this.settings.storage === 'bind') return packFolder(bindFolder(this.settings, user));
    const container = await this.dataContainer(user, { createVolume: false });
    if (!container) throw noWorkspaceData();
    return readWorkspaceArchive(this.client, container.Id);
  }

  /** Entries get the workspace user as owner: re-packed for the engine (see writeWorkspaceArchive), written so by node-tar into a bind folder. */
  async restore(user: string, archive: Readable): Promise<void> {
    const owner = parseOwner(this.settings.workspace_uid);
    const logger = this.logger.child({ user });
    if (this.settings.storage === 'bind') {
      await this.data.mount(user);
      return unpackInto(bindFolder(this.settings, user), archive, logger, owner);
    }
    const container = await this.dataContainer(user, { createVolume: true });
    if (!container) throw noWorkspaceData();
    await writeWorkspaceArchive(this.client, container.Id, archive, owner, logger);
  }

  /**
   * A container to read or write the user's volume through: the existing one
   * in whatever state, else one created (not started) by the same path as
   * start() uses, so it is the workspace's own. Without `createVolume`, only
   * when the volume already holds data; undefined otherwise.
   */
  private async dataContainer(user: string, options: { createVolume: boolean }): Promise<Docker.ContainerInspectInfo | undefined> {
    const existing = await this.containers.inspect(user);
    if (existing) return existing;
    if (!options.createVolume && !(await this.data.exists(user))) return undefined;
    await this.prepare();
    return (await this.containers.create(user)).container;
  }
}
