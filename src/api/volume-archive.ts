import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { NotFoundError } from '../errors.js';
import type { WorkspaceManager } from '../workspaces/manager.js';

/**
 * Writes the user's files to `<dir>/<user>-<time>.tar.gz` before their volume
 * is deleted. Written under a temporary name and renamed, so a half-written
 * archive is never mistaken for a complete one. Returns the archive's path,
 * or undefined when the user had no files; a failed archive throws, which
 * stops the deletion.
 */
export async function archiveBeforeDeletion(manager: WorkspaceManager, user: string, dir: string, now = new Date()): Promise<string | undefined> {
  await mkdir(dir, { recursive: true });
  const name = `${user}-${now.toISOString().replace(/[:.]/g, '-')}.tar.gz`;
  const partial = join(dir, `.${name}.partial`);
  try {
    await pipeline(await manager.backup(user), createGzip(), createWriteStream(partial, { mode: 0o600 }));
    await rename(partial, join(dir, name));
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  return join(dir, name);
}
