import { createHash, randomBytes } from 'node:crypto';
import { readFile as readHostFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DockerRuntime } from '../../src/runtimes/docker/docker-runtime.js';
import { LABEL } from '../../src/runtimes/engine/labels.js';
import type { RuntimeEvent, RuntimeProgress, WorkspaceInfo } from '../../src/runtimes/runtime.js';
import { waitUntilAnswering } from '../../src/workspaces/readiness.js';
import { collect, listEntries, makeTar } from '../support/archive.js';
import { cleanupInstance, demoImage, dockerCli, dockerRuntimeSettings, engine, requireEngine, uniqueInstance } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

const logger = pino({ level: 'silent' });
const { instance, prefix } = uniqueInstance('docker-runtime');
/** The demo image under a second name: "a new image" for the re-create test. */
const altImage = `workspace-gateway-demo-alt:${instance}`;

let image: string;
let runtime: DockerRuntime;
/** What the engine did by itself; the stream's gaps are left out. */
const seen: Exclude<RuntimeEvent, { kind: 'gap' }>[] = [];
const eventsAbort = new AbortController();
let eventsDone: Promise<void> | undefined;

function endpointOf(info: WorkspaceInfo): { host: string; port: number } {
  const endpoint = info.endpoint;
  if (!endpoint || !('host' in endpoint)) throw new Error(`no TCP endpoint for ${info.user}: ${JSON.stringify(info)}`);
  return endpoint;
}

/** The editor answers a moment after the container runs: the gateway's own readiness wait. */
async function editorAnswers(info: WorkspaceInfo): Promise<void> {
  expect(await waitUntilAnswering(endpointOf(info), Date.now() + 10_000), `the editor of ${info.user} answers`).toBe(true);
}

async function putFile(info: WorkspaceInfo, name: string, body: string): Promise<void> {
  const { host, port } = endpointOf(info);
  await editorAnswers(info);
  const res = await fetch(`http://${host}:${port}/__file?name=${name}`, { method: 'PUT', body });
  expect(res.status).toBe(201);
}

async function readFile(info: WorkspaceInfo, name: string): Promise<{ status: number; text: string }> {
  const { host, port } = endpointOf(info);
  await editorAnswers(info);
  const res = await fetch(`http://${host}:${port}/__file?name=${name}`);
  return { status: res.status, text: await res.text() };
}

/** Tries a TCP connection from inside a container; prints connected / timeout / error CODE. */
async function probeFrom(containerId: string, host: string, port: number): Promise<string> {
  const script =
    `const s=require('net').connect(${port},${JSON.stringify(host)});s.setTimeout(3000);` +
    `s.on('connect',()=>{console.log('connected');process.exit(0)});` +
    `s.on('timeout',()=>{console.log('timeout');process.exit(2)});` +
    `s.on('error',e=>{console.log('error '+e.code);process.exit(3)})`;
  const result = await dockerCli(['exec', containerId, '/usr/local/bin/node', '-e', script], { timeoutMs: 15_000 });
  return result.stdout.trim() || `exec failed (${result.code}): ${result.stderr.trim()}`;
}

function probeFromHost(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.setTimeout(3_000);
    socket.on('connect', () => (socket.destroy(), resolve('connected')));
    socket.on('timeout', () => (socket.destroy(), resolve('timeout')));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
  });
}

/** Runs a node script inside a running container (the image has node but no shell). */
async function nodeIn(containerId: string, script: string): Promise<string> {
  const result = await dockerCli(['exec', containerId, '/usr/local/bin/node', '-e', script], { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`exec failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** Every entry of the workspace folder as seen inside the container: type, mode, owner, and content hash or link target. */
async function manifestIn(containerId: string): Promise<Record<string, string>> {
  const script =
    `const fs=require('fs'),path=require('path'),crypto=require('crypto');const out={};` +
    `const describe=(f,s)=>{const m=(s.mode&0o7777).toString(8),o=s.uid+':'+s.gid;` +
    `if(s.isSymbolicLink())return 'link '+fs.readlinkSync(f)+' '+o;if(s.isDirectory())return 'dir '+m+' '+o;` +
    `return 'file '+m+' '+o+' '+crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex')};` +
    `const walk=(d,pre)=>{for(const n of fs.readdirSync(d).sort()){const f=path.join(d,n),s=fs.lstatSync(f);` +
    `out[pre+n]=describe(f,s);if(s.isDirectory())walk(f,pre+n+'/')}};` +
    `const root='/home/coder/project';out['.']=describe(root,fs.lstatSync(root));walk(root,'');console.log(JSON.stringify(out))`;
  return JSON.parse(await nodeIn(containerId, script)) as Record<string, string>;
}

async function containersOf(user?: string): Promise<Docker.ContainerInfo[]> {
  const label = [`${LABEL.instance}=${instance}`];
  if (user) label.push(`${LABEL.user}=${user}`);
  return engine().listContainers({ all: true, filters: { label } });
}

beforeAll(async () => {
  await requireEngine();
  image = await demoImage();
  const tagged = await dockerCli(['tag', image, altImage]);
  if (tagged.code !== 0) throw new Error(`docker tag failed: ${tagged.stderr}`);
  runtime = new DockerRuntime({ settings: dockerRuntimeSettings({ instance, image }), logger });
  await runtime.prepare();
  // Started early so the stream is surely connected before the kill below.
  eventsDone = (async () => {
    for await (const event of runtime.events(eventsAbort.signal)) if (event.kind !== 'gap') seen.push(event);
  })();
});

afterAll(async () => {
  eventsAbort.abort();
  await eventsDone;
  await runtime?.close();
  await cleanupInstance(instance);
  await dockerCli(['rmi', altImage]);
});

describe('DockerRuntime on a real engine', () => {
  it('creates one hardened container with labels, a named volume and no published port', async () => {
    const progress: RuntimeProgress[] = [];
    const info = await runtime.start('alice', { onProgress: (p) => progress.push(p) });
    expect(info.state).toBe('running');
    expect(info.image).toBe(image);
    expect(progress.map((p) => p.phase)).toEqual(['creating', 'starting']);

    const containers = await containersOf();
    expect(containers).toHaveLength(1);
    const c = await engine().getContainer(containers[0]!.Id).inspect();
    expect(c.Id).toBe(info.id);
    expect(c.Name).toBe(`/${prefix}alice`);
    expect(c.Config.Labels).toMatchObject({
      [LABEL.managed]: 'true',
      [LABEL.instance]: instance,
      [LABEL.user]: 'alice',
      [LABEL.image]: image,
    });
    expect(c.Config.Env).toEqual(expect.arrayContaining(['WORKSPACE_USER=alice', 'PORT=8080']));

    // Non-root, by configuration and in fact.
    expect(c.Config.User).toBe('1000:1000');
    const uid = await dockerCli(['exec', c.Id, '/usr/local/bin/node', '-e', 'console.log(process.getuid())']);
    expect(uid.code).toBe(0);
    expect(Number(uid.stdout.trim())).not.toBe(0);

    expect(c.HostConfig.CapDrop).toEqual(['ALL']);
    expect(c.HostConfig.SecurityOpt).toContain('no-new-privileges:true');
    expect(c.HostConfig.Memory).toBe(256 * 1024 * 1024);
    expect(c.HostConfig.NanoCpus).toBe(500_000_000);
    expect(c.HostConfig.PidsLimit).toBe(128);
    expect(c.HostConfig.RestartPolicy?.Name).toBe('no');

    // No port reaches the host: nothing bound, nothing published.
    expect(Object.keys(c.HostConfig.PortBindings ?? {})).toHaveLength(0);
    expect(c.HostConfig.PublishAllPorts).toBe(false);
    for (const bindings of Object.values(c.NetworkSettings.Ports ?? {})) expect(bindings ?? []).toHaveLength(0);
    expect(containers[0]!.Ports.filter((p) => p.PublicPort)).toHaveLength(0);

    const mount = c.Mounts.find((m) => m.Destination === '/home/coder/project');
    expect(mount).toMatchObject({ Type: 'volume', Name: `${prefix}alice_data` });
    const volume = await engine().getVolume(`${prefix}alice_data`).inspect();
    expect(volume.Labels).toMatchObject({ [LABEL.instance]: instance, [LABEL.user]: 'alice' });

    const { host, port } = endpointOf(info);
    expect(host).toBe(c.NetworkSettings.Networks[`wgtest_${instance}`]?.IPAddress);
    expect(port).toBe(8080);
    await editorAnswers(info);
    const res = await fetch(`http://${host}:${port}/__echo`);
    expect(await res.json()).toMatchObject({ user: 'alice', method: 'GET', url: '/__echo' });
  });

  it('stops, and starts the same container again with its files', async () => {
    const running = await runtime.inspect('alice');
    await putFile(running, 'note.txt', 'kept across stop');
    await runtime.stop('alice');
    const stopped = await runtime.inspect('alice');
    expect(stopped).toMatchObject({ state: 'stopped', id: running.id });
    expect(stopped.endpoint).toBeUndefined();
    expect(stopped.finishedAt).toBeInstanceOf(Date);
    await runtime.stop('alice'); // already stopped: fine

    const again = await runtime.start('alice');
    expect(again.id).toBe(running.id);
    expect(await readFile(again, 'note.txt')).toEqual({ status: 200, text: 'kept across stop' });
    await eventually('a stopped event for alice', () => seen.find((e) => e.user === 'alice' && e.kind === 'stopped'));
  });

  it('start is idempotent under concurrency: one container for parallel starts', async () => {
    const infos = await Promise.all([runtime.start('carol'), runtime.start('carol'), runtime.start('carol')]);
    expect(new Set(infos.map((i) => i.id)).size).toBe(1);
    expect(infos.every((i) => i.state === 'running')).toBe(true);
    expect(await containersOf('carol')).toHaveLength(1);
    await runtime.remove('carol', { volume: true });
  });

  it('remove keeps the volume unless asked; remove with volume deletes the data', async () => {
    const before = await runtime.inspect('alice');
    await runtime.remove('alice');
    expect(await runtime.inspect('alice')).toEqual({ user: 'alice', state: 'absent' });
    await eventually('a removed event for alice', () => seen.find((e) => e.user === 'alice' && e.kind === 'removed'));
    await runtime.remove('alice'); // already gone: fine

    const recreated = await runtime.start('alice');
    expect(recreated.id).not.toBe(before.id);
    expect(await readFile(recreated, 'note.txt')).toEqual({ status: 200, text: 'kept across stop' });

    await runtime.remove('alice', { volume: true });
    expect((await runtime.inspect('alice')).state).toBe('absent');
    await expect(engine().getVolume(`${prefix}alice_data`).inspect()).rejects.toMatchObject({ statusCode: 404 });

    const fresh = await runtime.start('alice');
    expect((await readFile(fresh, 'note.txt')).status).toBe(404);
  });

  it('isolates workspaces: a neighbour cannot be reached from inside, the host can reach both', async () => {
    const [alice, bob] = await Promise.all([runtime.start('alice'), runtime.start('bob')]);
    const b = endpointOf(bob);
    await editorAnswers(bob);

    // Control: the probe itself works (alice reaches her own editor).
    expect(await probeFrom(alice.id!, '127.0.0.1', 8080)).toBe('connected');
    const fromAlice = await probeFrom(alice.id!, b.host, b.port);
    expect(fromAlice).not.toBe('connected');
    expect(fromAlice).toMatch(/^(timeout|error )/);
    expect(await probeFromHost(b.host, b.port)).toBe('connected');
  });

  it('lists every workspace of this instance with its state from one engine call', async () => {
    const docker = new Docker({ socketPath: '/var/run/docker.sock' });
    const listing = vi.spyOn(docker, 'listContainers');
    const perContainer = vi.spyOn(docker, 'getContainer');
    const lister = new DockerRuntime({ settings: dockerRuntimeSettings({ instance, image }), docker, logger });
    const infos = await lister.list();
    expect(listing).toHaveBeenCalledTimes(1);
    expect(perContainer).not.toHaveBeenCalled();
    const byUser = new Map(infos.map((i) => [i.user, i]));
    expect([...byUser.keys()].sort()).toEqual(['alice', 'bob']);
    for (const user of ['alice', 'bob']) {
      const info = byUser.get(user)!;
      expect(info.state).toBe('running');
      expect(info.image).toBe(image);
      expect(endpointOf(info).port).toBe(8080);
    }
  });

  it('reports a killed workspace as error with its exit code, and emits a died event', async () => {
    const bob = await runtime.inspect('bob');
    const killed = await dockerCli(['kill', bob.id!]);
    expect(killed.code).toBe(0);
    const after = await runtime.inspect('bob');
    expect(after.state).toBe('error');
    expect(after.reason).toMatch(/137/);
    const died = await eventually('a died event for bob', () => seen.find((e) => e.user === 'bob' && e.kind === 'died'));
    expect(died.reason).toMatch(/137/);
    const listed = (await runtime.list()).find((i) => i.user === 'bob');
    expect(listed).toMatchObject({ state: 'error', reason: 'exited with code 137' });
  });

  it('re-creates a stopped workspace whose image changed, keeping its volume', async () => {
    const alice = await runtime.inspect('alice');
    await putFile(alice, 'survives.txt', 'across images');
    await runtime.stop('alice');

    const upgraded = new DockerRuntime({ settings: dockerRuntimeSettings({ instance, image: altImage }), logger });
    const info = await upgraded.start('alice');
    expect(info.id).not.toBe(alice.id);
    expect(info.image).toBe(altImage);
    const c = await engine().getContainer(info.id!).inspect();
    expect(c.Config.Labels[LABEL.image]).toBe(altImage);
    expect(await readFile(info, 'survives.txt')).toEqual({ status: 200, text: 'across images' });

    // A running workspace is left alone even when the configured image differs.
    const same = await runtime.start('alice');
    expect(same.id).toBe(info.id);
  });

  it('stores data in a host folder per user with storage=bind, and never deletes it', async () => {
    const bindRoot = `/tmp/wgtest_${instance}`;
    try {
      const bound = new DockerRuntime({ settings: dockerRuntimeSettings({ instance, image, storage: 'bind', bind_root: bindRoot }), logger });
      const info = await bound.start('frank');
      const c = await engine().getContainer(info.id!).inspect();
      expect(c.Mounts.find((m) => m.Destination === '/home/coder/project')).toMatchObject({ Type: 'bind', Source: `${bindRoot}/frank` });
      expect(await stat(`${bindRoot}/frank`)).toMatchObject({ uid: 1000, gid: 1000 });
      await putFile(info, 'on-host.txt', 'bound');
      expect(await stat(`${bindRoot}/frank/on-host.txt`)).toMatchObject({ uid: 1000, size: 5 });
      await bound.remove('frank', { volume: true });
      expect((await bound.inspect('frank')).state).toBe('absent');
      expect((await stat(`${bindRoot}/frank/on-host.txt`)).size).toBe(5);
    } finally {
      await rm(bindRoot, { recursive: true, force: true });
    }
  });

  it('refuses a missing image without pulling it', async () => {
    const missing = `workspace-gateway-missing:${instance}`;
    const broken = new DockerRuntime({ settings: dockerRuntimeSettings({ instance, image: missing }), logger });
    const err = await broken.start('dave').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'spawn_failed' });
    expect((err as Error).message).toContain(missing);
    expect((err as Error).message).toMatch(/missing on the engine/);
    expect((await broken.inspect('dave')).state).toBe('absent');
  });

  it('refuses a network on which containers can reach each other', async () => {
    const network = `wgtest_${instance}_icc`;
    await engine().createNetwork({ Name: network, Driver: 'bridge', Labels: { [LABEL.instance]: instance } });
    const unsafe = new DockerRuntime({ settings: dockerRuntimeSettings({ instance, image, network }), logger });
    await expect(unsafe.prepare()).rejects.toThrow(/lets containers reach each other/);
    await expect(unsafe.start('erin')).rejects.toThrow(/enable_icc/);
    expect(await containersOf('erin')).toHaveLength(0);
  });

  it('maps a missing engine to EngineUnavailableError everywhere, and events keep quiet', async () => {
    const gone = new DockerRuntime({
      settings: dockerRuntimeSettings({ instance, image }),
      docker: new Docker({ socketPath: `/nonexistent/${instance}/docker.sock` }),
      logger,
    });
    for (const call of [
      () => gone.prepare(),
      () => gone.inspect('alice'),
      () => gone.start('alice'),
      () => gone.list(),
      () => gone.stop('alice'),
      () => gone.remove('alice', { volume: true }),
      () => gone.storage.backup('alice'),
      () => gone.storage.restore('alice', Readable.from([makeTar([{ path: 'a.txt', body: 'a' }])])),
    ]) {
      await expect(call()).rejects.toMatchObject({ name: 'EngineUnavailableError', code: 'engine_unavailable', status: 503 });
    }
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 600);
    const events: RuntimeEvent[] = [];
    for await (const event of gone.events(abort.signal)) events.push(event);
    expect(events).toEqual([]);
  });
});

describe('backup and restore', () => {
  const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
  const blob = randomBytes(200 * 1024);
  /** gina's files as her running workspace saw them before the backup. */
  let original: Record<string, string>;
  let archive: Buffer;

  it('backs up a stopped workspace as a tar whose entries are relative to the workspace folder', async () => {
    const gina = await runtime.start('gina');
    await putFile(gina, 'notes.txt', 'plain text\n');
    const { host, port } = endpointOf(gina);
    const put = await fetch(`http://${host}:${port}/__file?name=blob.bin`, { method: 'PUT', body: blob });
    expect(put.status).toBe(201);
    await nodeIn(
      gina.id!,
      `const fs=require('fs');process.chdir('/home/coder/project');` +
        `fs.mkdirSync('src/lib/deep',{recursive:true});fs.writeFileSync('src/lib/deep/mod.js','export const x = 1;\\n');` +
        `fs.writeFileSync('run.sh','#!/bin/sh\\necho hi\\n');fs.chmodSync('run.sh',0o755);` +
        `fs.writeFileSync('private.txt','secret');fs.chmodSync('private.txt',0o600);` +
        `fs.chmodSync('src/lib',0o750);fs.mkdirSync('empty');fs.symlinkSync('src/lib/deep/mod.js','mod-link')`,
    );
    original = await manifestIn(gina.id!);
    expect(original['blob.bin']).toBe(`file 644 1000:1000 ${sha256(blob)}`);
    expect(original['run.sh']).toMatch(/^file 755 1000:1000 /);
    expect(original['notes.txt']).toBe(`file 644 1000:1000 ${sha256('plain text\n')}`);
    expect(Object.keys(original)).toHaveLength(11);
    await runtime.stop('gina');
    expect((await runtime.inspect('gina')).state).toBe('stopped');

    archive = await collect(await runtime.storage.backup('gina'));
    const entries = await listEntries(archive);
    const paths = entries.map((e) => e.path);
    expect(paths).toContain('./');
    expect(paths).toEqual(
      expect.arrayContaining(['./notes.txt', './blob.bin', './run.sh', './private.txt', './src/lib/deep/mod.js', './empty/', './mod-link']),
    );
    for (const entry of entries) {
      expect(entry.path.startsWith('./')).toBe(true);
      expect(entry.path).not.toMatch(/^\/|(^|\/)project\/|(^|\/)\.\.(\/|$)/);
      expect(entry.uid).toBe(1000);
    }
    expect(entries.find((e) => e.path === './run.sh')?.mode).toBe(0o755);
    expect(entries.find((e) => e.path === './blob.bin')?.size).toBe(200 * 1024);
  });

  it('restores into another user who had nothing: same files, contents, modes, owned by the workspace user', async () => {
    expect((await runtime.inspect('hank')).state).toBe('absent');
    await runtime.storage.restore('hank', Readable.from([archive]));
    // Restoring created the workspace (and its volume) without starting it.
    expect((await runtime.inspect('hank')).state).toBe('stopped');
    const hank = await runtime.start('hank');
    expect(await manifestIn(hank.id!)).toEqual(original);
    expect(await readFile(hank, 'notes.txt')).toEqual({ status: 200, text: 'plain text\n' });
  });

  it('restores into a stopped workspace: archive files overwrite, others stay, foreign owners become the workspace user', async () => {
    await runtime.stop('hank');
    const foreign = makeTar([
      { path: 'notes.txt', body: 'replaced', uid: 0, gid: 0 },
      // No folder entries: the folders must not end up root's.
      { path: 'imported/from/elsewhere.txt', body: 'foreign', uid: 4321, gid: 4321, mode: 0o640 },
      { path: '../escaped.txt', body: 'outside' },
      { path: 'setuid', body: 'x', mode: 0o4755, uid: 0, gid: 0 },
    ]);
    await runtime.storage.restore('hank', Readable.from([foreign]));
    expect((await runtime.inspect('hank')).state).toBe('stopped');
    const hank = await runtime.start('hank');
    const after = await manifestIn(hank.id!);
    expect(after['notes.txt']).toBe(`file 644 1000:1000 ${sha256('replaced')}`);
    expect(after['imported']).toBe('dir 755 1000:1000');
    expect(after['imported/from']).toBe('dir 755 1000:1000');
    expect(after['imported/from/elsewhere.txt']).toBe(`file 640 1000:1000 ${sha256('foreign')}`);
    expect(after['setuid']).toBe(`file 755 1000:1000 ${sha256('x')}`);
    for (const [path, line] of Object.entries(original)) if (path !== 'notes.txt') expect(after[path]).toBe(line);
    expect(await nodeIn(hank.id!, `console.log(require('fs').existsSync('/home/coder/escaped.txt'))`)).toBe('false');
    // The workspace user can write into restored folders.
    await nodeIn(hank.id!, `require('fs').writeFileSync('/home/coder/project/imported/from/mine.txt','ok')`);
  });

  it('backs up a user whose container was removed but whose volume is kept, without starting anything', async () => {
    await runtime.remove('gina');
    expect((await runtime.inspect('gina')).state).toBe('absent');
    const again = await listEntries(await collect(await runtime.storage.backup('gina')));
    expect(again.map((e) => e.path).sort()).toEqual((await listEntries(archive)).map((e) => e.path).sort());
    expect((await runtime.inspect('gina')).state).toBe('stopped');
    const c = await engine().getContainer(`${prefix}gina`).inspect();
    expect(c.Config.Labels).toMatchObject({ [LABEL.instance]: instance, [LABEL.user]: 'gina' });
    expect(c.HostConfig.Memory).toBe(256 * 1024 * 1024);
  });

  it('answers NotFoundError for a user with no workspace data, and BadRequestError for a body that is not a tar', async () => {
    await expect(runtime.storage.backup('ivy')).rejects.toMatchObject({ name: 'NotFoundError', code: 'no_workspace', status: 404 });
    expect(await containersOf('ivy')).toHaveLength(0);
    await expect(engine().getVolume(`${prefix}ivy_data`).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(runtime.storage.restore('gina', Readable.from([Buffer.from('not a tar archive')]))).rejects.toMatchObject({
      name: 'BadRequestError',
      code: 'bad_archive',
    });
  });

  it('with storage=bind, backs up and restores the host folder with the workspace owner', async () => {
    const bindRoot = `/tmp/wgtest_${instance}_backup`;
    try {
      const bound = new DockerRuntime({ settings: dockerRuntimeSettings({ instance, image, storage: 'bind', bind_root: bindRoot }), logger });
      await expect(bound.storage.backup('jack')).rejects.toMatchObject({ code: 'no_workspace' });
      await bound.storage.restore('jack', Readable.from([archive]));
      expect((await bound.inspect('jack')).state).toBe('absent');
      expect(await stat(`${bindRoot}/jack/run.sh`)).toMatchObject({ uid: 1000, gid: 1000, mode: 0o100755 });
      expect(await stat(`${bindRoot}/jack/src/lib`)).toMatchObject({ uid: 1000, mode: 0o40750 });
      expect(sha256(await readHostFile(`${bindRoot}/jack/blob.bin`))).toBe(sha256(blob));
      const entries = await listEntries(await collect(await bound.storage.backup('jack')));
      expect(entries.map((e) => e.path).sort()).toEqual((await listEntries(archive)).map((e) => e.path).sort());
    } finally {
      await rm(bindRoot, { recursive: true, force: true });
    }
  });
});
