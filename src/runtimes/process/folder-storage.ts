import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { RuntimeStorage } from '../runtime.js';
import { packFolder, unpackInto } from '../workspace-tar.js';

/** One folder per user under a root, read and written as it is, even while the workspace runs (as a container's files are). */
export class FolderStorage implements RuntimeStorage {
  constructor(
    private readonly root: string,
    private readonly logger: Logger,
  ) {}

  folder(user: string): string {
    return resolve(this.root, user);
  }

  exists(user: string): Promise<boolean> {
    return stat(this.folder(user)).then(
      (info) => info.isDirectory(),
      () => false,
    );
  }

  backup(user: string): Promise<Readable> {
    return packFolder(this.folder(user));
  }

  /** Files end up owned by the gateway's user, the one the workspace processes run as. */
  restore(user: string, archive: Readable): Promise<void> {
    return unpackInto(this.folder(user), archive, this.logger.child({ user }));
  }
}
