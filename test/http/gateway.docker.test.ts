import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../src/runtimes/docker/docker-runtime.js';
import { cleanupInstance, demoImage, dockerRuntimeSettings, ENGINE_SOCKET, requireEngine, uniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { EngineDoor, expectEngineUnavailable } from '../support/engine-door.js';
import { gatewayContract } from '../support/gateway-contract.js';
import { pageLoad, scriptRequest, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call, visit } from '../support/http.js';

const scope = uniqueInstance('gateway-docker');
let image = '';

gatewayContract('docker runtime', {
  setup: async () => {
    await requireEngine();
    image = await demoImage();
  },
  teardown: () => cleanupInstance(scope.instance),
  env: () => dockerEnv(scope, image),
  instancesOf: async (_gw, user) => (await containersOf(scope.instance, user)).length,
});

describe('gateway on the real engine', () => {
  const own = uniqueInstance('gateway-docker-2');
  let gw: TestGateway;

  beforeAll(async () => {
    await requireEngine();
    image = await demoImage();
    gw = await startGateway(dockerEnv(own, image));
  });
  afterAll(async () => {
    await gw?.close();
    await cleanupInstance(own.instance);
  });

  it('starts a stopped workspace again on a page load: same container, same files', async () => {
    const jwt = await token('carol');
    const first = await visit(`${gw.url}/ws/carol/__file?name=notes.txt`, { method: 'PUT', headers: pageLoad(jwt), body: 'my notes' });
    expect(first.status).toBe(201);
    const [before] = await containersOf(own.instance, 'carol');
    await gw.app.manager.stop('carol', 'test');
    expect((await containersOf(own.instance, 'carol'))[0]!.State).toBe('exited');
    // A script request does not wake it...
    expect((await call(`${gw.url}/ws/carol/__file?name=notes.txt`, { headers: scriptRequest(jwt) })).status).toBe(503);
    // ...a page load does.
    const again = await visit(`${gw.url}/ws/carol/__file?name=notes.txt`, { headers: pageLoad(jwt) });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe('my notes');
    const [after] = await containersOf(own.instance, 'carol');
    expect(after!.Id).toBe(before!.Id);
    expect(after!.State).toBe('running');
  });

  it('keeps files when the container is removed and re-created', async () => {
    const jwt = await token('dave');
    expect((await visit(`${gw.url}/ws/dave/__file?name=keep.txt`, { method: 'PUT', headers: pageLoad(jwt), body: 'kept' })).status).toBe(201);
    const [before] = await containersOf(own.instance, 'dave');
    await gw.app.manager.remove('dave');
    expect(await containersOf(own.instance, 'dave')).toHaveLength(0);
    const res = await visit(`${gw.url}/ws/dave/__file?name=keep.txt`, { headers: pageLoad(jwt) });
    expect(await res.text()).toBe('kept');
    const [after] = await containersOf(own.instance, 'dave');
    expect(after!.Id).not.toBe(before!.Id);
  });

  it('re-creates a container removed behind its back on the next page load', async () => {
    const jwt = await token('erin');
    expect((await visit(`${gw.url}/ws/erin/`, { headers: pageLoad(jwt) })).status).toBe(200);
    const [c] = await containersOf(own.instance, 'erin');
    await new Docker({ socketPath: ENGINE_SOCKET }).getContainer(c!.Id).remove({ force: true });
    // The engine's destroy event (or the refused connection) tells the gateway; the page load brings it back.
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      status = (await visit(`${gw.url}/ws/erin/__echo`, { headers: pageLoad(jwt) })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    expect(await containersOf(own.instance, 'erin')).toHaveLength(1);
  });

  it('answers 503 engine_unavailable while the engine is away and recovers without a restart', async () => {
    const door = new EngineDoor();
    await door.open();
    const scoped = uniqueInstance('gateway-engine-door');
    const runtime = new DockerRuntime({
      settings: dockerRuntimeSettings({ instance: scoped.instance, container_prefix: scoped.prefix, image }),
      docker: new Docker({ socketPath: door.path }),
      logger: pino({ level: 'silent' }),
      requestTimeoutMs: 3000,
    });
    const doorGw = await startGateway({ ...dockerEnv(scoped, image), GATEWAY_JWT_SECRET: 'x'.repeat(32) }, runtime);
    const jwt = await token('frank', { secret: 'x'.repeat(32) });
    try {
      expect((await call(`${doorGw.url}/readyz`)).status).toBe(200);
      await door.shut();
      await expectEngineUnavailable(doorGw.url, 'frank', jwt);
      expect((await call(`${doorGw.url}/healthz`)).status).toBe(200);
      await door.open();
      const back = await visit(`${doorGw.url}/ws/frank/__echo`, { headers: pageLoad(jwt) });
      expect(back.status).toBe(200);
      expect((await back.json()).user).toBe('frank');
    } finally {
      await doorGw.close();
      await door.shut();
      await cleanupInstance(scoped.instance);
    }
  });
});
