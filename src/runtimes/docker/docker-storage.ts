import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { DockerSettings } from '../../config/settings.js';
import type { EngineClient } from '../engine/engine-client.js';
import type { RuntimeStorage } from '../runtime.js';
import { noWorkspaceData, packFolder, parseOwner, rewriteOwners, unpackInto } from '../workspace-tar.js';
import { bindFolder, PROJECT_DIR } from './names.js';
import type { WorkspaceContainers } from './workspace-containers.js';
import type { WorkspaceData } from './workspace-data.js';

/**
 * Longest restore upload. The request lasts as long as the client takes to
 * send the archive, so the usual per-request deadline would cut big restores;
 * this one only ends an engine that stopped answering for good.
 */
const ARCHIVE_UPLOAD_TIMEOUT_MS = 30 * 60_000;

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
    // With `<dir>/.` the engine names entries `./…`, relative to the folder
    // (as `docker cp <dir>/.` copies its contents); plain `<dir>` would prefix
    // every entry with `project/`.
    const archive = await this.client.call('read workspace archive', (abortSignal) =>
      this.client.docker.getContainer(container.Id).getArchive({ path: `${PROJECT_DIR}/.`, abortSignal }),
    );
    return archive instanceof Readable ? archive : new Readable().wrap(archive);
  }

  /**
   * The engine extracts as root and keeps each entry's owner, so entries are
   * re-packed on the way with the workspace user as owner (see
   * rewriteOwners); a bind folder is written by node-tar with that owner.
   */
  async restore(user: string, archive: Readable): Promise<void> {
    const owner = parseOwner(this.settings.workspace_uid);
    const logger = this.logger.child({ user });
    if (this.settings.storage === 'bind') {
      await this.data.mount(user);
      return unpackInto(bindFolder(this.settings, user), archive, logger, owner);
    }
    const container = await this.dataContainer(user, { createVolume: true });
    if (!container) throw noWorkspaceData();
    const upload = rewriteOwners(archive, owner, logger);
    try {
      await this.client.call(
        'write workspace archive',
        (abortSignal) => this.client.docker.getContainer(container.Id).putArchive(upload.tar, { path: PROJECT_DIR, abortSignal }),
        ARCHIVE_UPLOAD_TIMEOUT_MS,
      );
    } catch (err) {
      upload.stop();
      // A bad archive or a failed client upload also fails the request;
      // report that, not how the engine connection ended.
      throw upload.failure() ?? err;
    }
    const failure = upload.failure();
    if (failure) throw failure;
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
