import { gatewayContract } from '../support/gateway-contract.js';

gatewayContract('process runtime', {
  env: () => ({ GATEWAY_RUNTIME: 'process' }),
  instancesOf: async (gw, user) => (await gw.app.runtime.list()).filter((w) => w.user === user && w.state === 'running').length,
});
