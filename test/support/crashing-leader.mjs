// A cluster's leader as main.js runs it, from the compiled gateway in
// WG_DIST, that crashes on SIGUSR2: an exception nobody catches, as any bug
// on the leader would throw. cluster.fork() runs this file again for each
// worker, which then runs as main.js's workers do.
import cluster from 'node:cluster';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const load = (path) => import(pathToFileURL(join(process.env.WG_DIST, path)).href);
const { loadConfig } = await load('config/load.js');
const { createLogger } = await load('log.js');
const { serve } = await load('app.js');
const { createRuntime } = await load('runtimes/create.js');

const config = loadConfig({ env: process.env });
const logger = createLogger(config.log_level);
await serve(config, logger, () => createRuntime(config, logger));
if (cluster.isPrimary) {
  process.on('SIGUSR2', () =>
    setImmediate(() => {
      throw new Error('simulated leader crash');
    }),
  );
  console.log('leader ready');
}
