/**
 * Backup and restore helpers shared by the runtimes. Archives are plain
 * (uncompressed) tar streams whose entries are relative to the workspace
 * folder (`./`, `./src/app.js`); nothing here holds a whole archive in memory.
 */

import { mkdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import * as tar from 'tar';
import { BadRequestError, NotFoundError } from '../errors.js';

type TarOptions = tar.TarOptionsWithAliasesAsyncNoFile;

export interface Owner {
  uid: number;
  gid: number;
}

export function noWorkspaceData(): NotFoundError {
  return new NotFoundError('This user has no workspace data.', 'no_workspace');
}

/** `workspace_uid` ("1000:1000", or "1000", meaning the same group id). */
export function parseOwner(spec: string): Owner {
  const [uid, gid = uid] = spec.split(':').map(Number);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`workspace_uid ${spec} is not numeric uid:gid`);
  return { uid: uid!, gid: gid! };
}

// Set-id bits on a restored file would make it run as its new owner (root,
// for a process-runtime gateway running as root): an archive must not be a
// way to get one.
const SET_ID_BITS = 0o6000;

const stripSetId = (type: string | undefined, mode: number | undefined): number | undefined =>
  mode !== undefined && type !== 'Directory' ? mode & ~SET_ID_BITS : mode;

const badArchive = (detail: string): BadRequestError => new BadRequestError(`The backup is not a readable tar archive (${detail}).`, 'bad_archive');

/** node-tar's codes for input that is not (or no longer) a tar stream. */
const BAD_ARCHIVE_CODES = new Set(['TAR_BAD_ARCHIVE', 'TAR_ABORT']);

function archiveFailure(err: unknown): Error {
  const code =
    typeof err === 'object' && err !== null ? ((err as { tarCode?: unknown; code?: unknown }).tarCode ?? (err as { code?: unknown }).code) : undefined;
  if (typeof code === 'string' && BAD_ARCHIVE_CODES.has(code)) return badArchive(err instanceof Error ? err.message : String(err));
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The contents of `folder` as a tar stream (entries `./…`). Owners are those
 * on disk; every restore sets its own. Throws NotFoundError when the folder
 * does not exist.
 */
export async function packFolder(folder: string): Promise<Readable> {
  try {
    if (!(await stat(folder)).isDirectory()) throw noWorkspaceData();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noWorkspaceData();
    throw err;
  }
  // The pack reads files as the consumer pulls (backpressure through pipe).
  const pack = tar.c({ cwd: folder }, ['.']);
  const output = new PassThrough();
  pack.on('error', (err: unknown) => output.destroy(err instanceof Error ? err : new Error(String(err))));
  output.on('close', () => {
    // node-tar cannot cancel a pack: paused, it would keep its open files
    // forever. A download given up half-way lets it run to the end instead.
    if (pack.emittedEnd) return;
    pack.unpipe(output);
    pack.resume();
  });
  pack.pipe(output);
  return output;
}

/**
 * Unpacks `archive` into `folder` (created if missing). Entries outside the
 * folder (`..`, paths through symlinks) are skipped by node-tar's defaults and
 * logged; with `owner`, every file ends up owned by it whatever the archive
 * says, without it by the gateway's own user.
 */
export async function unpackInto(folder: string, archive: Readable, logger: Logger, owner?: Owner): Promise<void> {
  await mkdir(folder, { recursive: true });
  // node-tar reports a file it could not write (disk full, permissions) as a
  // warning and goes on; a restore that lost files must not look successful.
  let writeError: Error | undefined;
  const options: TarOptions = {
    cwd: folder,
    // A fresh file per entry, so an overwritten file takes the archive's mode
    // (node-tar keeps an existing file's mode otherwise) and a hard link from
    // the folder to a file elsewhere is replaced rather than written through.
    unlink: true,
    filter: (_path, entry) => {
      if ('type' in entry) entry.mode = stripSetId(entry.type, entry.mode);
      return true;
    },
    onwarn: (code, message, data) => {
      // node-tar's own refusals (TAR_SYMLINK_ERROR, `..`, unsupported types) skip an entry.
      if (data instanceof Error && !String(data.code).startsWith('TAR_')) writeError ??= data;
      else logger.warn({ code, message }, 'restore skipped an archive entry');
    },
  };
  if (owner) {
    options.uid = owner.uid;
    options.gid = owner.gid;
  } else {
    // As root, node-tar would otherwise give files the archive's owners.
    options.preserveOwner = false;
  }
  const unpack = tar.x(options);
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      archive.unpipe(unpack);
      reject(archiveFailure(err));
    };
    archive.on('error', fail);
    unpack.on('error', fail);
    unpack.once('finish', () => {
      if (writeError) return fail(writeError);
      if (settled) return;
      settled = true;
      resolve();
    });
    archive.pipe(unpack);
  });
}

/** A tar stream on its way to the engine; see rewriteOwners. */
export interface RewrittenArchive {
  tar: Readable;
  /** Why the stream was cut (a bad archive, the input failing), if it was. */
  failure(): Error | undefined;
  /** Stops reading the input, for when the engine gave up first. */
  stop(): void;
}

/**
 * Re-packs `archive` entry by entry for the engine's archive API, which
 * extracts as root and keeps each header's uid/gid (its `copyUIDGID` option
 * looks the container's user up by name, and fails for a numeric "1000:1000").
 * Every entry is rewritten to `owner`, set-id bits are dropped, and entries
 * that would land outside the folder (`..` in the path or a hard-link target,
 * or below a symlink the same archive created) are skipped, as are device
 * nodes and FIFOs, as node-tar's Unpack does for the other runtimes.
 * Streaming with backpressure: at most a chunk or so of entries is in memory.
 */
export function rewriteOwners(archive: Readable, owner: Owner, logger: Logger): RewrittenArchive {
  const output = new PassThrough();
  const symlinks = new Set<string>();
  const directories = new Set<string>(['.']);
  let failed: Error | undefined;

  const fail = (err: unknown) => {
    if (failed) return;
    failed = archiveFailure(err);
    archive.unpipe(parser);
    // The engine client pipes `output` into the request and destroys the
    // request with this error, so the upload fails with our reason.
    output.destroy(failed);
  };

  const pack = new tar.Pack({
    onWriteEntry: (entry) => {
      // Typed as a file-system entry; entries added from a parser are WriteEntryTar.
      if (!(entry instanceof tar.WriteEntryTar)) throw new Error('rewriteOwners only re-packs parsed entries');
      entry.uid = owner.uid;
      entry.gid = owner.gid;
      entry.uname = undefined;
      entry.gname = undefined;
      entry.mode = stripSetId(entry.type, entry.mode);
    },
    onwarn: (code, message) => logger.debug({ code, message }, 'archive entry adjusted'),
  });
  const parser = new tar.Parser({
    onwarn: (code, message) => {
      if (BAD_ARCHIVE_CODES.has(code)) fail(badArchive(message));
      else logger.warn({ code, message }, 'restore skipped an unreadable archive entry');
    },
  });
  parser.on('entry', (entry: tar.ReadEntry) => {
    const path = relative(entry.path);
    const reason = unsafeEntry(path, entry, symlinks);
    if (reason) {
      logger.warn({ path: entry.path, reason }, 'restore skipped an archive entry');
      entry.resume();
      return;
    }
    // The engine creates a missing parent folder owned by root, where the
    // workspace user could not write; an archive listing only files (tar of
    // file names, not of a folder) gets folder entries of its own. A folder
    // that already exists in the workspace then takes mode 0755.
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (directories.has(parent)) continue;
      directories.add(parent);
      const folder = new tar.ReadEntry(new tar.Header({ path: `${parent}/`, type: 'Directory', mode: 0o755, size: 0, mtime: new Date() }));
      pack.add(folder);
      folder.end();
    }
    if (entry.type === 'Directory') directories.add(path);
    if (entry.type === 'SymbolicLink') symlinks.add(path);
    else symlinks.delete(path);
    pack.add(entry);
  });
  parser.on('error', fail);
  parser.on('end', () => pack.end());
  pack.on('error', fail);
  archive.on('error', fail);
  pack.pipe(output);
  archive.pipe(parser);
  return {
    tar: output,
    failure: () => failed,
    stop: () => {
      archive.unpipe(parser);
      output.destroy();
    },
  };
}

/** `./a/b/`, `/a/b`, `a//b` → `a/b`; the folder itself is `.`. */
const relative = (path: string): string => posix.normalize(path.replace(/^\/+/, '')).replace(/\/+$/, '') || '.';

/** What node-tar's Unpack writes; device nodes and FIFOs it skips. */
const WRITABLE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

function unsafeEntry(path: string, entry: tar.ReadEntry, symlinks: ReadonlySet<string>): string | undefined {
  if (!WRITABLE_TYPES.has(entry.type)) return `unsupported entry type ${entry.type}`;
  if (path === '..' || path.startsWith('../') || entry.path.split('/').includes('..')) return "path contains '..'";
  if (entry.type === 'Link' && entry.linkpath?.split('/').includes('..')) return "hard link target contains '..'";
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    if (symlinks.has(parts.slice(0, i).join('/'))) return 'path goes through a symlink';
  }
  return undefined;
}
