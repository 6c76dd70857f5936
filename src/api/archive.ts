import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Runtime } from '../runtimes/runtime.js';

/**
 * Writes the user's files to `<dir>/<user>-<time>.tar.gz` before their volume
 * is deleted. Written under a temporary name and renamed, so a half-written
 * archive is never mistaken for a complete one. Returns the archive's path.
 */
export async function archiveWorkspace(runtime: Runtime, user: string, dir: string, now = new Date()): Promise<string> {
  await mkdir(dir, { recursive: true });
  const name = `${user}-${now.toISOString().replace(/[:.]/g, '-')}.tar.gz`;
  const partial = join(dir, `.${name}.partial`);
  try {
    await pipeline(await runtime.backup(user), createGzip(), createWriteStream(partial, { mode: 0o600 }));
    await rename(partial, join(dir, name));
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return join(dir, name);
}
