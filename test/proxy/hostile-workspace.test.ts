import { hostileWorkspaceContract } from '../support/hostile-workspace-contract.js';
import { startGateway } from '../support/gateway.js';

// Workspaces as local processes: the demo workspace answers whatever each request scripts.
hostileWorkspaceContract('process runtime', () => startGateway({ GATEWAY_PROXY_TIMEOUT: '3s' }));
