/**
 * The gateway compiled as an operator runs it (`node <out>/dist/main.js`),
 * for tests that need it as a process of its own.
 *
 * The build goes to a folder of its own under the system temp dir, named by a
 * hash of the sources: test files running in parallel share one build (a lock
 * folder lets one of them compile while the others wait), a later run with
 * the same sources reuses it, and the repository's own `dist/` (which
 * `npm run build` writes) is never touched. The build
 * finds what it loads as it does in the repository: the folder holds `dist/`,
 * links to `images/` and `node_modules/`, and a package.json (saying the
 * files are ES modules; src/package-root.ts finds `images/` beside it).
 *
 * GATEWAY_BUILD_REF=<git ref> builds the sources of that commit instead of
 * the working tree (read with `git archive`; the checkout is not touched):
 * to see a test catch what an older gateway got wrong.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build as rolldown, type BuildOptions } from 'rolldown';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

const DONE_MARK = 'BUILT';
const BUNDLE_CONFIG = 'rolldown.config.mjs';
/** A lock older than this belongs to a build that died (a build takes seconds). */
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
    let sources = REPO;
    if (commit) {
      sources = join(dir, 'sources');
      mkdirSync(sources);
      symlinkSync(join(REPO, 'node_modules'), join(sources, 'node_modules'));
      const files = ['src', 'tsconfig.json', 'tsconfig.build.json', BUNDLE_CONFIG].filter((f) => gitHas(commit, f));
      await promisify(execFile)('sh', ['-c', `git archive ${commit} ${files.join(' ')} | tar -x -C "${sources}"`], { cwd: REPO });
    }
    if (existsSync(join(sources, BUNDLE_CONFIG))) await bundle(sources, join(dir, 'dist'));
    else await compileModules(sources, join(dir, 'dist'), main);
    writeFileSync(join(dir, DONE_MARK), new Date().toISOString());
    return main;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The build as `npm run build` makes it: rolldown with the sources' own config, into `out`. */
async function bundle(sources: string, out: string): Promise<void> {
  const { default: config } = (await import(pathToFileURL(join(sources, BUNDLE_CONFIG)).href)) as { default: BuildOptions };
  await rolldown({ ...config, cwd: sources, output: { ...config.output, dir: out } });
}

/**
 * A commit from before the bundled build (GATEWAY_BUILD_REF): tsc's modules.
 * Type errors still emit JavaScript (noEmitOnError is off); only a build
 * that produced no entry point is a failure.
 */
async function compileModules(sources: string, out: string, main: string): Promise<void> {
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', join(sources, 'tsconfig.build.json'), '--outDir', out], {
      cwd: sources,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const output = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
    if (!existsSync(main)) throw new Error(`building the gateway failed:\n${output}`);
  }
}

function gitHas(commit: string, path: string): boolean {
  return execFileSync('git', ['ls-tree', '--name-only', commit, path], { cwd: REPO, encoding: 'utf8' }).trim() !== '';
}

/** Hash of everything the build reads: src/, the two tsconfig files and the bundle's config. */
function sourceHash(): string {
  const hash = createHash('sha256');
  const files = [join(REPO, 'tsconfig.json'), join(REPO, 'tsconfig.build.json'), join(REPO, BUNDLE_CONFIG), ...filesUnder(join(REPO, 'src'))].sort();
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
