import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupInstance, demoImage, dockerCli, engine, requireEngine, uniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { pageLoad, scriptRequest, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call, visit } from '../support/http.js';

const scope = uniqueInstance('containment');

/** Runs a Node one-liner inside a workspace (the image has node but no shell); resolves with its stdout. */
async function nodeIn(containerId: string, script: string, timeoutMs = 30_000): Promise<string> {
  const result = await dockerCli(['exec', containerId, '/usr/local/bin/node', '-e', script], { timeoutMs });
  return result.stdout.trim();
}

describe('what a workspace can do to the rest (real engine)', () => {
  let gw: TestGateway;
  let port: number;
  let attacker: string;

  beforeAll(async () => {
    await requireEngine();
    // Listening on every address, as in production: the host side of the bridge is reachable from workspaces.
    gw = await startGateway({ ...dockerEnv(scope, await demoImage()), GATEWAY_HOST: '0.0.0.0', GATEWAY_PIDS_LIMIT: '64', GATEWAY_MEMORY_LIMIT: '96m' });
    port = Number(new URL(gw.url).port);
    for (const user of ['mallory', 'victim']) expect((await visit(`${gw.url}/ws/${user}/`, { headers: pageLoad(await token(user)) })).status).toBe(200);
    attacker = (await containersOf(scope.instance, 'mallory'))[0]!.Id;
  });
  afterAll(async () => {
    await gw?.close();
    await cleanupInstance(scope.instance);
  });

  it('has no engine socket inside, and the engine API is not reachable over the network', async () => {
    const info = await engine().getContainer(attacker).inspect();
    expect(info.Mounts.map((m) => m.Source)).not.toContain('/var/run/docker.sock');
    expect(info.HostConfig.Binds ?? []).toEqual([]);
    expect(await nodeIn(attacker, "console.log(require('fs').existsSync('/var/run/docker.sock'))")).toBe('false');
    const network = await engine().getNetwork(`wgtest_${scope.instance}`).inspect();
    const hostSide = network.IPAM!.Config![0]!.Gateway as string;
    const probe = `const s=require('net').connect(2375,'${hostSide}');s.setTimeout(3000);s.on('connect',()=>{console.log('open');process.exit()});s.on('timeout',()=>{console.log('timeout');process.exit()});s.on('error',e=>{console.log(e.code);process.exit()})`;
    expect(await nodeIn(attacker, probe)).not.toBe('open');
  });

  it("reaches the gateway only through the public door, which asks for a token like anyone else's request", async () => {
    const network = await engine().getNetwork(`wgtest_${scope.instance}`).inspect();
    const hostSide = network.IPAM!.Config![0]!.Gateway as string;
    const get = (path: string) =>
      `fetch('http://${hostSide}:${port}${path}',{headers:{accept:'application/json'}}).then(async r=>console.log(r.status,(await r.json()).error)).catch(e=>console.log('error',e.cause?.code))`;
    expect(await nodeIn(attacker, get('/api/workspaces'))).toBe('401 token_missing');
    expect(await nodeIn(attacker, get('/ws/victim/__echo'))).toBe('401 token_missing');
    expect(await nodeIn(attacker, get('/readyz'))).toMatch(/^200/);
  });

  it('a fork bomb and a memory hog in one workspace leave the gateway and another workspace serving', async () => {
    const victimJwt = await token('victim');
    const malloryJwt = await token('mallory');
    let stop = false;
    const victimStatuses: number[] = [];
    const victimLoop = (async () => {
      while (!stop) {
        victimStatuses.push((await call(`${gw.url}/ws/victim/__echo`, { headers: scriptRequest(victimJwt) })).status);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Fork until the engine's pids limit says no (bounded: at most 5 s, at most 1000 children).
    const bomb =
      "const {spawn}=require('child_process');let n=0,err='';const t0=Date.now();" +
      "function go(){if(n>=1000||Date.now()-t0>5000)return done();try{const c=spawn('/usr/local/bin/node',['-e','setTimeout(()=>{},8000)']);c.on('error',e=>{err=e.code;done()});n++;setImmediate(go)}catch(e){err=e.code;done()}}" +
      "let finished=false;function done(){if(finished)return;finished=true;console.log(n+' '+err);process.exit()}go()";
    const [spawned, error] = (await nodeIn(attacker, bomb, 40_000)).split(' ');
    expect(Number(spawned)).toBeLessThan(64);
    expect(error).toMatch(/EAGAIN|ENOMEM/);
    // And a memory hog: the engine kills it at its limit.
    await call(`${gw.url}/ws/mallory/__memhog`, { headers: scriptRequest(malloryJwt) });
    for (let i = 0; i < 50; i++) {
      const [c] = await containersOf(scope.instance, 'mallory');
      if (c?.State !== 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    stop = true;
    await victimLoop;
    expect((await engine().getContainer(attacker).inspect()).State.OOMKilled).toBe(true);
    expect(victimStatuses.length).toBeGreaterThan(10);
    expect(victimStatuses.every((s) => s === 200)).toBe(true);
    expect((await call(`${gw.url}/healthz`)).status).toBe(200);
  });
});
