import { apiContract } from '../support/api-contract.js';
import { cleanupInstance, demoImage, requireEngine, uniqueInstance } from '../support/engine.js';
import { dockerEnv } from '../support/engine-gateway.js';

const scope = uniqueInstance('api');
let image = '';

apiContract('docker runtime', {
  setup: async () => {
    await requireEngine();
    image = await demoImage();
  },
  env: () => dockerEnv(scope, image),
  teardown: () => cleanupInstance(scope.instance),
});
