import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js';
import { collect, listEntries, makeTar } from '../support/archive.js';

const logger = pino({ level: 'silent' });
let root: string;
let runtime: ProcessRuntime;

/** Every file, folder and link under `folder`: type, permission bits, and content hash or link target. */
async function manifest(folder: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, prefix: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const rel = prefix + name;
      const info = await lstat(path);
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isSymbolicLink()) out[rel] = `link ${await readlink(path)}`;
      else if (info.isDirectory()) {
        out[rel] = `dir ${mode}`;
        await walk(path, `${rel}/`);
      } else
        out[rel] = `file ${mode} ${createHash('sha256')
          .update(await readFile(path))
          .digest('hex')}`;
    }
  };
  await walk(folder, '');
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'wg-process-backup-'));
  runtime = new ProcessRuntime({ settings: { data_root: root, process_command: undefined }, logger });
  const ann = join(root, 'ann');
  await mkdir(join(ann, 'src/lib'), { recursive: true });
  await writeFile(join(ann, 'notes.txt'), 'hello\n');
  await chmod(join(ann, 'notes.txt'), 0o644);
  await writeFile(join(ann, 'run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(ann, 'run.sh'), 0o755);
  await writeFile(join(ann, 'src/lib/deep.js'), 'export const deep = 1;\n');
  await chmod(join(ann, 'src/lib'), 0o750);
  await writeFile(join(ann, 'blob.bin'), randomBytes(200 * 1024));
  await writeFile(join(ann, 'private.txt'), 'mine');
  await chmod(join(ann, 'private.txt'), 0o600);
  await mkdir(join(ann, 'empty'));
  await symlink('src/lib/deep.js', join(ann, 'deep-link'));
});

afterAll(async () => {
  await runtime?.close();
  await rm(root, { recursive: true, force: true });
});

describe('ProcessRuntime backup and restore', () => {
  it('backs a folder up with entries relative to it and restores it into another user, contents and modes intact', async () => {
    const archive = await collect(await runtime.storage.backup('ann'));
    const entries = await listEntries(archive);
    const paths = entries.map((e) => e.path);
    expect(paths).toContain('./');
    expect(paths).toEqual(expect.arrayContaining(['./notes.txt', './run.sh', './src/lib/deep.js', './blob.bin', './empty/', './deep-link']));
    for (const path of paths) {
      expect(path.startsWith('./')).toBe(true);
      expect(path.split('/')).not.toContain('..');
    }
    expect(entries.find((e) => e.path === './run.sh')?.mode).toBe(0o755);

    await expect(stat(join(root, 'bob'))).rejects.toMatchObject({ code: 'ENOENT' });
    await runtime.storage.restore('bob', Readable.from([archive]));
    const expected = await manifest(join(root, 'ann'));
    expect(Object.keys(expected)).toHaveLength(9);
    expect(await manifest(join(root, 'bob'))).toEqual(expected);
  });

  it('overwrites the files in the archive, keeps the others, and takes the archive modes', async () => {
    const carl = join(root, 'carl');
    await mkdir(carl);
    await writeFile(join(carl, 'notes.txt'), 'old and longer than the new one');
    await chmod(join(carl, 'notes.txt'), 0o600);
    await writeFile(join(carl, 'keep.txt'), 'kept');
    await runtime.storage.restore('carl', Readable.from([await collect(await runtime.storage.backup('ann'))]));
    expect(await readFile(join(carl, 'notes.txt'), 'utf8')).toBe('hello\n');
    expect((await stat(join(carl, 'notes.txt'))).mode & 0o7777).toBe(0o644);
    expect(await readFile(join(carl, 'keep.txt'), 'utf8')).toBe('kept');
  });

  it('skips entries outside the folder, drops set-id bits, and owns files as the gateway user', async () => {
    const outside = join(root, 'outside');
    await mkdir(join(root, 'dora'), { recursive: true });
    await mkdir(outside);
    await symlink(outside, join(root, 'dora/out'));
    const archive = makeTar([
      { path: 'out/planted.txt', body: 'through a symlink' },
      { path: 'up', type: 'SymbolicLink', linkpath: '../outside' },
      { path: 'up/planted2.txt', body: 'through a symlink' },
      { path: 'ok.txt', body: 'fine', uid: 4321, gid: 4321 },
      { path: '../escaped.txt', body: 'outside' },
      { path: 'a/../../escaped2.txt', body: 'outside' },
      { path: 'setuid', body: 'x', mode: 0o4755 },
      { path: 'nested/file.txt', body: 'parent made implicitly' },
    ]);
    await runtime.storage.restore('dora', Readable.from([archive]));
    const dora = join(root, 'dora');
    expect(await readFile(join(dora, 'ok.txt'), 'utf8')).toBe('fine');
    expect((await stat(join(dora, 'ok.txt'))).uid).toBe(process.getuid!());
    expect((await stat(join(dora, 'setuid'))).mode & 0o7777).toBe(0o755);
    expect(await readFile(join(dora, 'nested/file.txt'), 'utf8')).toBe('parent made implicitly');
    await expect(stat(join(root, 'escaped.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(root, 'escaped2.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(outside)).toEqual([]);
  });

  it('answers NotFoundError for a user without a folder, and BadRequestError for something that is not a tar', async () => {
    await expect(runtime.storage.backup('nobody')).rejects.toMatchObject({ name: 'NotFoundError', code: 'no_workspace', status: 404 });
    await expect(runtime.storage.restore('erin', Readable.from([Buffer.from('this is not a tar archive at all')]))).rejects.toMatchObject({
      name: 'BadRequestError',
      code: 'bad_archive',
      status: 400,
    });
  });
});
