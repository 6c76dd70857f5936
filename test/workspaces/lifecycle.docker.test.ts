import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupInstance, demoImage, dockerCli, engine, requireEngine, uniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { eventually } from '../support/eventually.js';
import { openWebSocket, pageLoad, scriptRequest, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call, visit } from '../support/http.js';

const scope = uniqueInstance('lifecycle');
/** Gateways that must not see each other's workspaces (each sweeps what its instance owns). */
const restartScope = uniqueInstance('lifecycle-restart');
const oomScope = uniqueInstance('lifecycle-oom');
let image = '';
const env = (s = scope) => ({ ...dockerEnv(s, image), GATEWAY_IDLE_TIMEOUT: '3s', GATEWAY_REMOVE_AFTER: '4s' });

async function me(gw: TestGateway, jwt: string) {
  return (await call(`${gw.url}/api/workspaces/me`, { headers: { authorization: `Bearer ${jwt}`, accept: 'application/json' } })).json();
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe('workspace lifecycle on the real engine', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    await requireEngine();
    image = await demoImage();
    gw = await startGateway(env());
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([scope, restartScope, oomScope].map((s) => cleanupInstance(s.instance)));
  });

  it('stops idle workspaces: client messages keep one alive; a socket where only the workspace talks or pings flow does not', async () => {
    const [typistJwt, watcherJwt] = await Promise.all([token('typist'), token('watcher')]);
    expect((await visit(`${gw.url}/ws/typist/`, { headers: pageLoad(typistJwt) })).status).toBe(200);
    expect((await visit(`${gw.url}/ws/watcher/`, { headers: pageLoad(watcherJwt) })).status).toBe(200);
    const typist = (await openWebSocket(`${gw.wsUrl}/ws/typist/socket`, { cookie: `workspace_token=${typistJwt}` })).socket!;
    const watcher = (await openWebSocket(`${gw.wsUrl}/ws/watcher/socket?talk=200`, { cookie: `workspace_token=${watcherJwt}` })).socket!;
    const watcherClosed = closed(watcher);
    const typing = setInterval(() => typist.send('x'), 400);
    const pinging = setInterval(() => watcher.ping(), 400);
    try {
      const close = await Promise.race([watcherClosed, sleep(12_000).then(() => undefined)]);
      expect(close, 'the watcher socket was closed by the idle stop').toBeDefined();
      expect(close!.code).toBe(1001);
      expect(close!.reason).toContain('idle');
      // The close frame goes out before the container stops; the API follows once it has.
      const watcherState = await eventually('the stopped state', async () => {
        const body = await me(gw, watcherJwt);
        return body.state === 'running' ? undefined : body;
      });
      expect(watcherState).toMatchObject({ state: 'stopped', reason: 'idle' });
      // Well past the idle timeout, the typist's workspace still runs.
      await sleep(1500);
      expect(typist.readyState).toBe(WebSocket.OPEN);
      expect(await me(gw, typistJwt)).toMatchObject({ state: 'running', lastActivityKind: 'websocket' });
    } finally {
      clearInterval(typing);
      clearInterval(pinging);
      typist.close();
    }
  });

  it('removes a long-stopped container but keeps its volume; the next page load brings the files back', async () => {
    const jwt = await token('returner');
    expect((await visit(`${gw.url}/ws/returner/__file?name=work.txt`, { method: 'PUT', headers: pageLoad(jwt), body: 'homework' })).status).toBe(201);
    await call(`${gw.url}/api/workspaces/returner/stop`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, accept: 'application/json' } });
    await eventually('the container to be removed', async () => ((await containersOf(scope.instance, 'returner')).length === 0 ? true : undefined));
    const volumes = await engine().listVolumes({ filters: { name: [`${scope.prefix}returner_data`] } });
    expect(volumes.Volumes?.map((v) => v.Name)).toEqual([`${scope.prefix}returner_data`]);
    const back = await visit(`${gw.url}/ws/returner/__file?name=work.txt`, { headers: pageLoad(jwt) });
    expect(back.status).toBe(200);
    expect(await back.text()).toBe('homework');
  });

  it('survives a gateway restart: same container, served at once, new WebSockets work, idle stop still happens', async () => {
    const jwt = await token('phoenix');
    const first = await startGateway(env(restartScope));
    expect((await visit(`${first.url}/ws/phoenix/`, { headers: pageLoad(jwt) })).status).toBe(200);
    const [before] = await containersOf(restartScope.instance, 'phoenix');
    await first.close();

    const second = await startGateway(env(restartScope));
    try {
      // A script request may not wake anything: it succeeds only because the workspace still runs.
      const res = await call(`${second.url}/ws/phoenix/__echo`, { headers: scriptRequest(jwt) });
      expect(res.status).toBe(200);
      const [after] = await containersOf(restartScope.instance, 'phoenix');
      expect(after!.Id).toBe(before!.Id);
      const { socket } = await openWebSocket(`${second.wsUrl}/ws/phoenix/socket`, { cookie: `workspace_token=${jwt}` });
      expect(socket).toBeDefined();
      const socketClosed = closed(socket!);
      await eventually('the idle stop after the restart', async () =>
        (await containersOf(restartScope.instance, 'phoenix'))[0]?.State === 'exited' ? true : undefined,
      );
      expect((await socketClosed).code).toBe(1001);
    } finally {
      await second.close();
    }
  });

  it('reports a killed container as error with the reason, closes its sockets, and runs it again on the next page load', async () => {
    const jwt = await token('victim');
    expect((await visit(`${gw.url}/ws/victim/`, { headers: pageLoad(jwt) })).status).toBe(200);
    const { socket } = await openWebSocket(`${gw.wsUrl}/ws/victim/socket`, { cookie: `workspace_token=${jwt}` });
    const socketClosed = closed(socket!);
    const [container] = await containersOf(scope.instance, 'victim');
    expect((await dockerCli(['kill', container!.Id])).code).toBe(0);
    await socketClosed;
    const state = await eventually('the error state', async () => {
      const body = await me(gw, jwt);
      return body.state === 'error' ? body : undefined;
    });
    expect(state.reason).toContain('137');
    expect((await visit(`${gw.url}/ws/victim/__echo`, { headers: pageLoad(jwt) })).status).toBe(200);
    expect(await me(gw, jwt)).toMatchObject({ state: 'running' });
  });

  it('reports an out-of-memory kill as such', async () => {
    const tight = await startGateway({ ...env(oomScope), GATEWAY_MEMORY_LIMIT: '48m' });
    try {
      const jwt = await token('hog');
      expect((await visit(`${tight.url}/ws/hog/`, { headers: pageLoad(jwt) })).status).toBe(200);
      await call(`${tight.url}/ws/hog/__memhog`, { headers: scriptRequest(jwt) });
      const state = await eventually('the out-of-memory error', async () => {
        const body = await me(tight, jwt);
        return body.state === 'error' ? body : undefined;
      });
      expect(state.reason).toMatch(/out of memory/);
    } finally {
      await tight.close();
    }
  });
});
