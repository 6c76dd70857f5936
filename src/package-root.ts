import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding the gateway's package.json, where the files shipped
 * beside the code live (`images/`). Found by walking up, because the code
 * runs from different depths: the sources from src/…/ in tests, the build
 * as a few bundled files directly in dist/.
 */
const PACKAGE_ROOT = packageRootAbove(dirname(fileURLToPath(import.meta.url)));

function packageRootAbove(dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, 'package.json'))) return at;
    if (dirname(at) === at) throw new Error(`no package.json above ${dir}`);
  }
}

/** A file shipped with the gateway, by its path from the package root (e.g. `images/demo-workspace/server.mjs`). */
export function packageFile(path: string): string {
  return join(PACKAGE_ROOT, path);
}
