/**
 * The swarm runtime on a real swarm of three engines (scripts/swarm-bed.sh),
 * beyond the runtime contract: spreading over nodes, pinning to the volume's
 * node, isolation across nodes, moving between nodes, and a node going away and coming back.
 */
import Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LABEL } from '../../src/runtimes/engine/labels.js';
import type { RuntimeEvent, WorkspaceInfo } from '../../src/runtimes/runtime.js';
import { SwarmRuntime } from '../../src/runtimes/swarm/swarm-runtime.js';
import { HOST_UNAVAILABLE } from '../../src/runtimes/swarm/task-state.js';
import { collect, filesOf, makeTar } from '../support/archive.js';
import { uniqueInstance } from '../support/engine.js';
import { swarmBed, type SwarmBed } from '../support/swarm-bed.js';
import { answersFrom, cleanupSwarm, standInGateway, swarmRuntimeSettings, taskHome } from '../support/swarm-workspaces.js';
import { Readable } from 'node:stream';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const { instance } = uniqueInstance('swarm-runtime');
const USERS = Array.from({ length: 12 }, (_, i) => `s${String(i + 1).padStart(2, '0')}`);

describe('the swarm runtime on three engines', () => {
  let bed: SwarmBed;
  let gateway: string;
  let runtime: SwarmRuntime;
  const seen: RuntimeEvent[] = [];
  const events = new AbortController();
  let listening: Promise<void> | undefined;
  /** The node name each of USERS runs on, once started. */
  const nodeOf = new Map<string, string>();

  const answers = (info: WorkspaceInfo) => answersFrom(bed, gateway, info.endpoint!, Date.now() + 15_000);
  const service = async (user: string) =>
    (await bed.docker(bed.manager).listServices({ filters: { label: [`${LABEL.instance}=${instance}`, `${LABEL.user}=${user}`] } }))[0];
  /**
   * Whether `from`'s container gets an answer from `to`'s editor (its echo names its user) at any of
   * `to`'s addresses: its own network's, and the node's gateway bridge. Bridge addresses repeat from
   * node to node, so one may be `from`'s own; the user in the answer tells.
   */
  const reachesFromInside = async (from: WorkspaceInfo, to: WorkspaceInfo) => {
    const target = await taskHome(bed, to.id!);
    const listed = await bed.cli(target.node, [
      'exec',
      target.container,
      'node',
      '-e',
      "console.log(JSON.stringify(Object.values(require('os').networkInterfaces()).flat().filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address)))",
    ]);
    const addresses = JSON.parse(listed.stdout) as string[];
    expect(addresses).toContain((to.endpoint as { host: string }).host);
    const source = await taskHome(bed, from.id!);
    const probe = (address: string) =>
      `fetch('http://${address}:8080/__echo', { signal: AbortSignal.timeout(3000) }).then((r) => r.json()).then((b) => process.exit(b.user === ${JSON.stringify(to.user)} ? 0 : 2), () => process.exit(1))`;
    const probes = await Promise.all(addresses.map((address) => bed.cli(source.node, ['exec', source.container, 'node', '-e', probe(address)])));
    return { addresses, reached: probes.some((p) => p.code === 0) };
  };

  beforeAll(async () => {
    bed = await swarmBed();
    gateway = await standInGateway(bed, instance);
    runtime = new SwarmRuntime({
      settings: swarmRuntimeSettings(bed, instance, gateway),
      logger,
      docker: new Docker({ socketPath: bed.manager.socket }),
      pollIntervalMs: 300,
    });
    await runtime.prepare();
    listening = (async () => {
      for await (const event of runtime.events(events.signal)) seen.push(event);
    })();
  });
  afterAll(async () => {
    events.abort();
    await listening;
    // A test that failed half-way may leave a node stopped.
    for (const node of bed?.nodes ?? []) if ((await bed.cli(node, ['info', '--format', '{{.ID}}'])).code !== 0) await bed.startNode(node.name);
    if (bed) await cleanupSwarm(bed, instance);
  });

  it('spreads 12 users started at once over the nodes, one service each, every editor reachable from the gateway', async () => {
    const infos = await Promise.all(USERS.map((user) => runtime.start(user)));
    for (const info of infos) {
      expect(info.state).toBe('running');
      const home = await taskHome(bed, info.id!);
      nodeOf.set(info.user, home.node.name);
    }
    const perNode = new Map<string, number>();
    for (const node of nodeOf.values()) perNode.set(node, (perNode.get(node) ?? 0) + 1);
    // Swarm spreads by the tasks already on each node (other services' too), so only "more than one" is certain.
    expect(perNode.size).toBeGreaterThan(1);
    const services = await bed.docker(bed.manager).listServices({ filters: { label: [`${LABEL.instance}=${instance}`] } });
    expect(services).toHaveLength(USERS.length);
    for (const info of infos) expect(await answers(info)).toBe(true);
  }, 120_000);

  it('pins each service to the node where it first ran, without restarting it', async () => {
    for (const user of USERS) {
      const s = await service(user);
      const node = bed.nodes.find((n) => n.name === nodeOf.get(user))!;
      expect(s?.Spec?.Labels?.[LABEL.node]).toBe(node.nodeId);
      expect(s?.Spec?.TaskTemplate && 'ContainerSpec' in s.Spec.TaskTemplate ? s.Spec.TaskTemplate.Placement?.Constraints : []).toEqual([
        `node.id==${node.nodeId}`,
      ]);
    }
    const first = await runtime.inspect(USERS[0]!);
    await new Promise((ok) => setTimeout(ok, 1500));
    expect(await runtime.inspect(USERS[0]!)).toMatchObject({ state: 'running', id: first.id });
  });

  it('stops by scaling to 0 (the service stays), and wakes on the same node with the same files', async () => {
    const user = USERS[1]!;
    await runtime.storage!.restore(user, Readable.from([makeTar([{ path: 'kept.txt', body: 'on its node', uid: 1000, gid: 1000 }])]));
    await runtime.stop(user);
    const stopped = await service(user);
    expect(stopped?.Spec?.Mode?.Replicated?.Replicas).toBe(0);
    expect(await runtime.inspect(user)).toMatchObject({ state: 'stopped' });
    const woken = await runtime.start(user);
    expect((await taskHome(bed, woken.id!)).node.name).toBe(nodeOf.get(user));
    expect((await service(user))?.ID).toBe(stopped?.ID);
    expect((await filesOf(await collect(await runtime.storage!.backup(user)))).get('kept.txt')).toBe('on its node');
    expect(await answers(woken)).toBe(true);
  }, 60_000);

  it('keeps a running workspace on its image when the image setting changes; the next wake takes the new one', async () => {
    const user = USERS[3]!;
    const running = await runtime.inspect(user);
    const newer = new SwarmRuntime({
      settings: swarmRuntimeSettings(bed, instance, gateway, { image: bed.images[1]! }),
      logger,
      docker: new Docker({ socketPath: bed.manager.socket }),
    });
    expect(await newer.start(user)).toMatchObject({ state: 'running', id: running.id, image: bed.images[0] });
    await newer.stop(user);
    const woken = await newer.start(user);
    expect(woken).toMatchObject({ state: 'running', image: bed.images[1] });
    expect((await taskHome(bed, woken.id!)).node.name).toBe(nodeOf.get(user));
  }, 60_000);

  it('keeps workspaces apart on the same node and across nodes; the gateway reaches both', async () => {
    // 12 users on 2 or 3 nodes: some node holds two of them.
    const first = USERS.find((u) => USERS.some((v) => v !== u && nodeOf.get(v) === nodeOf.get(u)))!;
    const a = await runtime.inspect(first);
    const sameNode = USERS.find((u) => u !== first && nodeOf.get(u) === nodeOf.get(first))!;
    const otherNode = USERS.find((u) => nodeOf.get(u) !== nodeOf.get(first))!;
    for (const user of [sameNode, otherNode]) {
      const b = await runtime.inspect(user);
      expect(b.state).toBe('running');
      const { addresses, reached } = await reachesFromInside(a, b);
      expect(addresses.length, `${user}'s addresses`).toBeGreaterThan(0);
      expect(reached, `${a.user} (${nodeOf.get(a.user)}) reached ${user} (${nodeOf.get(user)}) at one of ${addresses.join(', ')}`).toBe(false);
      expect(await answers(b)).toBe(true);
    }
    // The probe itself works: a workspace reaches its own editor.
    expect((await reachesFromInside(a, a)).reached).toBe(true);
  }, 60_000);

  it('moves a workspace to another node: files copied there and gone from the old node, the service pinned there', async () => {
    const user = USERS[2]!;
    const from = bed.node(nodeOf.get(user)!);
    const to = bed.nodes.find((n) => n.name !== from.name)!;
    await runtime.storage!.restore(user, Readable.from([makeTar([{ path: 'moved.txt', body: 'across nodes', uid: 1000, gid: 1000 }])]));
    await runtime.move(user, to.hostname);
    expect((await service(user))?.Spec?.Labels?.[LABEL.node]).toBe(to.nodeId);
    expect(await runtime.inspect(user)).toMatchObject({ state: 'stopped' });
    const volumesOn = async (node: typeof from) =>
      ((await bed.docker(node).listVolumes({ filters: { label: [`${LABEL.instance}=${instance}`, `${LABEL.user}=${user}`] } })).Volumes ?? []).length;
    expect(await volumesOn(from)).toBe(0);
    expect(await volumesOn(to)).toBe(1);
    const moved = await runtime.start(user);
    expect((await taskHome(bed, moved.id!)).node.name).toBe(to.name);
    nodeOf.set(user, to.name);
    expect((await filesOf(await collect(await runtime.storage!.backup(user)))).get('moved.txt')).toBe('across nodes');
    expect(await answers(moved)).toBe(true);
  }, 90_000);

  it('marks the workspaces of a stopped node error ("its host is unavailable") while the others serve, and recovers them when it returns', async () => {
    const down = bed.nodes.find((n) => n.role === 'worker')!;
    const onIt = USERS.filter((u) => nodeOf.get(u) === down.name);
    const elsewhere = USERS.find((u) => nodeOf.get(u) !== down.name && u !== USERS[1])!;
    expect(onIt.length).toBeGreaterThan(0);
    await runtime.storage!.restore(onIt[0]!, Readable.from([makeTar([{ path: 'survives.txt', body: 'a node restart', uid: 1000, gid: 1000 }])]));
    const began = Date.now();
    await bed.stopNode(down.name);
    try {
      await vi.waitFor(async () => expect(await runtime.inspect(onIt[0]!)).toMatchObject({ state: 'error', reason: HOST_UNAVAILABLE }), {
        timeout: 45_000,
        interval: 500,
      });
      const noticedAfter = Date.now() - began;
      await vi.waitFor(() => expect(seen.some((e) => e.kind === 'died' && e.user === onIt[0] && e.reason === HOST_UNAVAILABLE)).toBe(true), { timeout: 5_000 });
      expect(noticedAfter).toBeLessThan(45_000);
      // The others keep serving; a start of one on the missing node says why at once.
      expect(await answers(await runtime.inspect(elsewhere))).toBe(true);
      await expect(runtime.start(onIt[0]!)).rejects.toMatchObject({ code: 'spawn_failed', message: expect.stringContaining(HOST_UNAVAILABLE) });
    } finally {
      await bed.startNode(down.name);
    }
    // Back: swarm gives up the task it could not reach, and the workspace is stopped until it is woken again.
    await vi.waitFor(async () => expect((await runtime.inspect(onIt[0]!)).state).toBe('stopped'), { timeout: 45_000, interval: 500 });
    const back = await runtime.start(onIt[0]!);
    expect((await taskHome(bed, back.id!)).node.name).toBe(down.name);
    expect(await answersFrom(bed, gateway, back.endpoint!, Date.now() + 30_000)).toBe(true);
    expect((await filesOf(await collect(await runtime.storage!.backup(onIt[0]!)))).get('survives.txt')).toBe('a node restart');
  }, 180_000);
});
