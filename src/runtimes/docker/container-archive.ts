import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { EngineClient } from '../engine/engine-client.js';
import { rewriteOwners, type Owner } from '../workspace-tar.js';
import { PROJECT_DIR } from './names.js';

/**
 * Longest restore upload. The request lasts as long as the client takes to
 * send the archive, so the usual per-request deadline would cut big restores;
 * this one only ends an engine that stopped answering for good.
 */
const ARCHIVE_UPLOAD_TIMEOUT_MS = 30 * 60_000;

/** The workspace folder of a container (running or not) as an uncompressed tar stream, entries relative to the folder. */
export async function readWorkspaceArchive(client: EngineClient, containerId: string): Promise<Readable> {
  // With `<dir>/.` the engine names entries `./…`, relative to the folder
  // (as `docker cp <dir>/.` copies its contents); plain `<dir>` would prefix
  // every entry with `project/`.
  const archive = await client.call('read workspace archive', (abortSignal) =>
    client.docker.getContainer(containerId).getArchive({ path: `${PROJECT_DIR}/.`, abortSignal }),
  );
  return archive instanceof Readable ? archive : new Readable().wrap(archive);
}

/**
 * Unpacks a tar stream into a container's workspace folder. The engine
 * extracts as root and keeps each entry's owner, so entries are re-packed on
 * the way with the workspace user as owner (see rewriteOwners).
 */
export async function writeWorkspaceArchive(client: EngineClient, containerId: string, archive: Readable, owner: Owner, logger: Logger): Promise<void> {
  const upload = rewriteOwners(archive, owner, logger);
  try {
    await client.call(
      'write workspace archive',
      (abortSignal) => client.docker.getContainer(containerId).putArchive(upload.tar, { path: PROJECT_DIR, abortSignal }),
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
