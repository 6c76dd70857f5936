import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineDoor, expectEngineUnavailable } from '../support/engine-door.js';
import { gatewayContract } from '../support/gateway-contract.js';
import { pageLoad, scriptRequest, token } from '../support/gateway.js';
import { call, visit } from '../support/http.js';
import { uniqueInstance } from '../support/engine.js';
import { swarmBed, type SwarmBed } from '../support/swarm-bed.js';
import { startSwarmGateway, swarmGatewayEnv, type SwarmGateway } from '../support/swarm-gateway.js';
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

describe('the gateway on a swarm', () => {
  const scope = uniqueInstance('gateway-swarm-2');
  let bed: SwarmBed;
  let gw: SwarmGateway | undefined;
  const env = () => swarmGatewayEnv(swarmRuntimeSettings(bed, scope.instance, ''));
  const servicesOf = async (user: string) =>
    bed.docker(bed.manager).listServices({ filters: { label: [`${LABEL.instance}=${scope.instance}`, `${LABEL.user}=${user}`] } });

  beforeAll(async () => {
    bed = await swarmBed();
    gw = await startSwarmGateway(bed, scope.instance, env());
  });
  afterAll(async () => {
    await gw?.close();
    if (bed) await cleanupSwarm(bed, scope.instance);
  });

  it('makes one service for 20 concurrent first page loads of one user', async () => {
    const jwt = await token('crowd');
    const answers = await Promise.all(Array.from({ length: 20 }, () => visit(`${gw!.url}/ws/crowd/__echo`, { headers: pageLoad(jwt) })));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    for (const a of answers) expect((await a.json()).user).toBe('crowd');
    const services = await servicesOf('crowd');
    expect(services).toHaveLength(1);
    const tasks = await bed.docker(bed.manager).listTasks({ filters: { service: [services[0]!.ID] } });
    expect(tasks).toHaveLength(1);
  }, 120_000);

  it('serves running workspaces at once after a restart (a new gateway container), touching no service', async () => {
    const jwt = await token('rita');
    expect((await visit(`${gw!.url}/ws/rita/__file?name=notes.txt`, { method: 'PUT', headers: pageLoad(jwt), body: 'before the restart' })).status).toBe(201);
    const [before] = await servicesOf('rita');
    await gw!.close();
    gw = await startSwarmGateway(bed, scope.instance, env());
    // A script request never wakes a workspace: a 200 means the new gateway found it running.
    const res = await call(`${gw.url}/ws/rita/__file?name=notes.txt`, { headers: scriptRequest(jwt) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('before the restart');
    const [after] = await servicesOf('rita');
    expect(after?.Version?.Index).toBe(before?.Version?.Index);
  }, 120_000);

  it('answers 503 engine_unavailable while the manager is unreachable, keeps serving what runs, and recovers without a restart', async () => {
    const door = new EngineDoor(bed.manager.socket);
    await door.open();
    const doorGw = await startSwarmGateway(bed, scope.instance, env(), door.folder);
    try {
      const running = await token('rita');
      const fresh = await token('nora');
      // This gateway has found rita's workspace running (through the manager, while it still answered).
      expect((await call(`${doorGw.url}/ws/rita/__file?name=notes.txt`, { headers: scriptRequest(running) })).status).toBe(200);
      await door.shut();
      await expectEngineUnavailable(doorGw.url, 'nora', fresh);
      // What it found running it still reaches: the overlay does not need the manager.
      const kept = await call(`${doorGw.url}/ws/rita/__file?name=notes.txt`, { headers: scriptRequest(running) });
      expect(kept.status).toBe(200);
      await door.open();
      const back = await visit(`${doorGw.url}/ws/nora/__echo`, { headers: pageLoad(fresh) });
      expect(back.status).toBe(200);
      expect((await back.json()).user).toBe('nora');
    } finally {
      await doorGw.close();
      await door.shut();
    }
  }, 120_000);
});
