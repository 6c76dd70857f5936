import { gatewayContract } from '../support/gateway-contract.js';
import { uniqueInstance } from '../support/engine.js';
import { swarmBed, type SwarmBed } from '../support/swarm-bed.js';
import { startSwarmGateway, swarmGatewayEnv } from '../support/swarm-gateway.js';
import { cleanupSwarm, swarmRuntimeSettings } from '../support/swarm-workspaces.js';
import { LABEL } from '../../src/runtimes/engine/labels.js';

const { instance } = uniqueInstance('gateway-swarm');
let bed: SwarmBed;

gatewayContract('swarm runtime', {
  setup: async () => {
    bed = await swarmBed();
  },
  teardown: () => cleanupSwarm(bed, instance),
  // The gateway container names itself (its host name); the setting is left out.
  env: () => swarmGatewayEnv(swarmRuntimeSettings(bed, instance, '')),
  start: (env) => startSwarmGateway(bed, instance, env),
  get clientAddress() {
    return bed.hostIp;
  },
  instancesOf: async (_gw, user) => {
    const services = await bed.docker(bed.manager).listServices({ filters: { label: [`${LABEL.instance}=${instance}`, `${LABEL.user}=${user}`] } });
    return services.filter((s) => (s.Spec?.Mode?.Replicated?.Replicas ?? 0) > 0).length;
  },
});
