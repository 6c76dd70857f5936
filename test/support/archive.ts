/** Tar helpers for backup/restore tests: read an archive whole, list it, build one by hand. */
import type { Readable } from 'node:stream';
import * as tar from 'tar';

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

export interface ListedEntry {
  path: string;
  type: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size: number;
  linkpath?: string;
}

/** Calls `onEntry` for every entry of an uncompressed tar, in order, as node-tar's `tar.t` reads it; resolves once all are read. */
async function eachEntry(archive: Buffer, onEntry: (entry: tar.ReadEntry) => void): Promise<void> {
  const lister = tar.t({ onReadEntry: onEntry });
  const done = new Promise<void>((resolve, reject) => {
    lister.on('end', () => resolve());
    lister.on('error', reject);
  });
  lister.end(archive);
  await done;
}

/** Every entry of an uncompressed tar, in order, as node-tar's `tar.t` reads it. */
export async function listEntries(archive: Buffer): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = [];
  await eachEntry(archive, (e) => {
    const entry: ListedEntry = { path: e.path, type: e.type, size: e.size };
    if (e.mode !== undefined) entry.mode = e.mode;
    if (e.uid !== undefined) entry.uid = e.uid;
    if (e.gid !== undefined) entry.gid = e.gid;
    if (e.linkpath !== undefined) entry.linkpath = e.linkpath;
    entries.push(entry);
  });
  return entries;
}

/** The files of an uncompressed tar and their text, by path relative to the archive's root (a leading `./` dropped). */
export async function filesOf(archive: Buffer): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  await eachEntry(archive, (entry) => {
    const chunks: Buffer[] = [];
    entry.on('data', (chunk: Buffer) => chunks.push(chunk));
    entry.on('end', () => {
      if (entry.type === 'File') files.set(entry.path.replace(/^\.\//, ''), Buffer.concat(chunks).toString());
    });
  });
  return files;
}

export interface HandEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkpath?: string;
}

/**
 * A tar written header by header, for entries no well-behaved packer makes
 * (`..`, foreign owners, files without their folders).
 */
export function makeTar(entries: HandEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'File';
    const body = type === 'File' ? Buffer.from(e.body ?? '') : Buffer.alloc(0);
    const header = new tar.Header({
      path: e.path,
      type,
      size: body.length,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date('2024-01-02T03:04:05Z'),
      ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}),
    });
    header.encode();
    blocks.push(header.block!);
    if (body.length) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
