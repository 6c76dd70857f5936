// The bench's build of the gateway (`npm run bench` runs it after `npm run
// build`): bench/gateway.mjs with the options of the production bundle.
import { defineConfig } from 'rolldown';
import { gatewayBundle } from '../rolldown.config.mjs';

export default defineConfig({
  ...gatewayBundle,
  input: { gateway: 'bench/gateway.mjs' },
  output: { dir: 'bench/dist', format: 'esm', cleanDir: true },
});
