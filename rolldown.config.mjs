// The build (`npm run build`): the gateway's sources and their dependencies
// bundled into a few files in dist/ (main.js, demo.js and the chunks they
// share). One bundle instead of hundreds of modules holds about 8 MiB less
// memory in a gateway waiting for students (README "Build").
import { defineConfig } from 'rolldown';

/** Bundling options shared with the bench's build of the same sources (bench/rolldown.config.mjs). */
export const gatewayBundle = {
  platform: 'node',
  // dockerode's ssh2 and cpu-features load native addons (.node files) by path: left in node_modules.
  external: ['dockerode'],
};

export default defineConfig({
  ...gatewayBundle,
  input: { main: 'src/main.ts', demo: 'src/demo.ts' },
  output: { dir: 'dist', format: 'esm', cleanDir: true, sourcemap: true },
});
