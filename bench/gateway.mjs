// What the bench takes from the gateway's sources, bundled as `npm run build`
// bundles them (bench/rolldown.config.mjs → bench/dist/gateway.js): the
// gateway the bench measures is the same one bundle, not tsc's modules.
export { createApp, serve } from '../src/app.js';
export { loadConfig } from '../src/config/load.js';
export { createLogger } from '../src/log.js';
export { EventChannel } from '../src/runtimes/event-channel.js';
export { createRuntime } from '../src/runtimes/create.js';
export { freePort } from '../src/runtimes/process/free-port.js';
