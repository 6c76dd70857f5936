/**
 * The gateway compiled as an operator runs it (`node <out>/dist/main.js`),
 * for tests that need it as a process of its own.
 *
 * The build goes to a folder of its own under the system temp dir, named by a
 * hash of the sources: test files running in parallel share one build (a lock
 * folder lets one of them compile while the others wait), a later run with
 * the same sources reuses it, and the repository's own `dist/` (which
 * `npm run build` and the engine tests write) is never touched. The compiled
 * files find what they load relative to themselves as in the repository: the
 * folder holds `dist/`, and links to `images/` and `node_modules/` (process.ts
 * loads `../../images/demo-workspace/server.mjs`), plus a package.json saying
 * the files are ES modules.
 *
 * GATEWAY_BUILD_REF=<git ref> builds the sources of that commit instead of
 * the working tree (read with `git archive`; the checkout is not touched):
 * to see a test catch what an older gateway got wrong.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

const DONE_MARK = 'BUILT';
/** A lock older than this belongs to a build that died (tsc takes seconds). */
const STALE_LOCK_MS = 180_000;
/** Builds of other source states are removed once this old. */
const OLD_BUILD_MS = 6 * 3_600_000;

let inThisProcess: Promise<string> | undefined;

/** Path of main.js of a build of the current sources. */
export function builtGateway(): Promise<string> {
  inThisProcess ??= build();
  return inThisProcess;
}

async function build(): Promise<string> {
  const ref = process.env.GATEWAY_BUILD_REF;
  const commit = ref ? (await promisify(execFile)('git', ['rev-parse', `${ref}^{commit}`], { cwd: REPO })).stdout.trim() : undefined;
  // The checkout's path is part of the name: the build links to that checkout's images/ and node_modules/.
  const checkout = createHash('sha256').update(REPO).digest('hex').slice(0, 8);
  const dir = join(tmpdir(), `workspace-gateway-build-${checkout}-${commit ? `git-${commit.slice(0, 16)}` : sourceHash()}`);
  const main = join(dir, 'dist', 'main.js');
  const lock = `${dir}.lock`;
  for (;;) {
    if (existsSync(join(dir, DONE_MARK))) return main;
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() - mtimeOf(lock) > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (existsSync(join(dir, DONE_MARK))) return main;
    removeOldBuilds(dir);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    symlinkSync(join(REPO, 'images'), join(dir, 'images'));
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    let sources = REPO;
    if (commit) {
      sources = join(dir, 'sources');
      mkdirSync(sources);
      symlinkSync(join(REPO, 'node_modules'), join(sources, 'node_modules'));
      await promisify(execFile)('sh', ['-c', `git archive ${commit} src tsconfig.json tsconfig.build.json | tar -x -C "${sources}"`], { cwd: REPO });
    }
    try {
      await promisify(execFile)(process.execPath, [tsc, '-p', join(sources, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], {
        cwd: sources,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      // Type errors still emit JavaScript (noEmitOnError is off); others may be mid-edit in src/.
      // Only a build that produced no entry point is a failure.
      const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
      if (!existsSync(main)) throw new Error(`building the gateway failed:\n${out}`);
      console.warn(`the gateway built with type errors (testing the emitted JavaScript anyway):\n${out.split('\n').slice(0, 20).join('\n')}`);
    }
    writeFileSync(join(dir, DONE_MARK), new Date().toISOString());
    return main;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Hash of everything tsc reads for the build: src/ and the two tsconfig files. */
function sourceHash(): string {
  const hash = createHash('sha256');
  const files = [join(REPO, 'tsconfig.json'), join(REPO, 'tsconfig.build.json'), ...filesUnder(join(REPO, 'src'))].sort();
  for (const file of files) {
    hash.update(relative(REPO, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}

function removeOldBuilds(keep: string): void {
  for (const name of readdirSync(tmpdir())) {
    const path = join(tmpdir(), name);
    if (!name.startsWith('workspace-gateway-build-') || path === keep || name.endsWith('.lock')) continue;
    if (Date.now() - mtimeOf(path) > OLD_BUILD_MS && !existsSync(`${path}.lock`)) rmSync(path, { recursive: true, force: true });
  }
}
