import { afterAll } from 'vitest';
import { cleanupInstance, demoImage, requireEngine, uniqueInstance } from '../support/engine.js';
import { dockerEnv } from '../support/engine-gateway.js';
import { startGateway } from '../support/gateway.js';
import { hostileWorkspaceContract } from '../support/hostile-workspace-contract.js';

const scope = uniqueInstance('hostile-workspace');
afterAll(() => cleanupInstance(scope.instance));

// The same answers from inside real containers, over the workspaces' private bridge.
hostileWorkspaceContract('docker runtime', async () => {
  await requireEngine();
  return startGateway({ ...dockerEnv(scope, await demoImage()), GATEWAY_PROXY_TIMEOUT: '3s' });
});
