import Docker from 'dockerode';
import { pino } from 'pino';
import { SwarmRuntime } from '../../src/runtimes/swarm/swarm-runtime.js';
import { uniqueInstance } from '../support/engine.js';
import { runtimeContract } from '../support/runtime-contract.js';
import { swarmBed } from '../support/swarm-bed.js';
import { answersFrom, cleanupSwarm, killTask, standInGateway, swarmRuntimeSettings } from '../support/swarm-workspaces.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const { instance } = uniqueInstance('swarm-contract');

runtimeContract('swarm', async () => {
  const bed = await swarmBed();
  const gateway = await standInGateway(bed, instance);
  const settings = swarmRuntimeSettings(bed, instance, gateway);
  const docker = () => new Docker({ socketPath: bed.manager.socket });
  return {
    runtime: new SwarmRuntime({ settings, logger, docker: docker(), pollIntervalMs: 300 }),
    reopen: () => new SwarmRuntime({ settings, logger, docker: docker() }),
    reopenFinds: 'their workspaces',
    engine: { down: () => new SwarmRuntime({ settings, logger, docker: new Docker({ socketPath: `/nonexistent/${instance}/docker.sock` }) }) },
    crash: (info) => killTask(bed, info.id!),
    answers: (endpoint, deadline) => answersFrom(bed, gateway, endpoint, deadline),
    cleanup: () => cleanupSwarm(bed, instance),
  };
});
