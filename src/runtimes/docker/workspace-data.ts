import { chown, mkdir, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { DockerSettings } from '../../config/settings.js';
import type { EngineClient } from '../engine/engine-client.js';
import { ownedLabels } from '../engine/labels.js';
import { parseOwner } from '../workspace-tar.js';
import type { WorkspaceMount } from './container-spec.js';
import { bindFolder, PROJECT_DIR, volumeName } from './names.js';

/**
 * Where a user's files live on the engine: a named volume per user
 * (storage=volume) or a host folder per user under bind_root (storage=bind).
 */
export class WorkspaceData {
  constructor(
    private readonly client: EngineClient,
    private readonly settings: DockerSettings,
    private readonly logger: Logger,
  ) {}

  /** Creates the user's volume or folder if needed; the mount a container of theirs gets. */
  async mount(user: string): Promise<WorkspaceMount> {
    if (this.settings.storage === 'bind') {
      const folder = bindFolder(this.settings, user);
      const { uid, gid } = parseOwner(this.settings.workspace_uid);
      await mkdir(folder, { recursive: true });
      await chown(folder, uid, gid);
      return { Type: 'bind', Source: folder, Target: PROJECT_DIR };
    }
    // Created explicitly (not implicitly by the mount) so the volume carries our labels.
    const name = volumeName(this.settings, user);
    await this.client.call('create volume', (abortSignal) =>
      this.client.docker.createVolume({ Name: name, Labels: ownedLabels(this.settings.instance, { user, image: this.settings.image }), abortSignal }),
    );
    return { Type: 'volume', Source: name, Target: PROJECT_DIR };
  }

  async exists(user: string): Promise<boolean> {
    if (this.settings.storage === 'bind') {
      return stat(bindFolder(this.settings, user)).then(
        (info) => info.isDirectory(),
        () => false,
      );
    }
    const volume = this.client.docker.getVolume(volumeName(this.settings, user));
    return (await this.client.find('inspect volume', (abortSignal) => volume.inspect({ abortSignal }))) !== undefined;
  }

  /**
   * Deletes the user's volume. A bind folder is left alone on purpose: it
   * may hold data that predates the gateway, and deleting a host path
   * assembled from settings is one typo away from deleting the wrong tree;
   * an operator removes (or archives) it by hand.
   */
  async remove(user: string): Promise<void> {
    if (this.settings.storage !== 'volume') {
      this.logger.info({ user, folder: bindFolder(this.settings, user) }, 'workspace removed; its bind folder is kept on the host');
      return;
    }
    const volume = this.client.docker.getVolume(volumeName(this.settings, user));
    await this.client.find('remove volume', (abortSignal) => volume.remove({ abortSignal }));
  }
}
