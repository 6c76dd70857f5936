import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { EngineUnavailableError, GatewayError, SpawnFailedError } from '../errors.js';
import { noWorkspaceData, packFolder, parseOwner, rewriteOwners, unpackInto } from './archive.js';
import type { ProgressListener, Runtime, RuntimeEvent, WorkspaceInfo, WorkspaceState } from './runtime.js';

export type DockerRuntimeSettings = Pick<
  Config,
  | 'image'
  | 'network'
  | 'workspace_port'
  | 'container_prefix'
  | 'instance'
  | 'storage'
  | 'bind_root'
  | 'workspace_uid'
  | 'cap_add'
  | 'memory_limit'
  | 'cpu_limit'
  | 'pids_limit'
>;

export interface DockerRuntimeOptions {
  config: DockerRuntimeSettings;
  /** Defaults to the engine of DOCKER_HOST or the local socket. Should have no global `timeout`: it would cut the event stream. */
  docker?: Docker;
  logger: Logger;
  /** Longest wait for one engine request (the event stream excepted). */
  requestTimeoutMs?: number;
}

/** Labels that make a container, volume or network the gateway's; the engine is the state store. */
export const LABEL = {
  managed: 'workspace-gateway.managed',
  instance: 'workspace-gateway.instance',
  user: 'workspace-gateway.user',
  image: 'workspace-gateway.image',
} as const;

/** Where the workspace's data lives inside the container. */
export const PROJECT_DIR = '/home/coder/project';

const ICC_OPTION = 'com.docker.network.bridge.enable_icc';
/** Grace the editor gets between SIGTERM and SIGKILL. */
const STOP_GRACE_SECONDS = 10;
const PING_TIMEOUT_MS = 3_000;
/** How long the loser of a create race waits for the winner's container. */
const CREATE_RACE_WAIT_MS = 10_000;
const EVENTS_CONNECT_TIMEOUT_MS = 10_000;
const EVENTS_MAX_BACKOFF_MS = 5_000;
/**
 * Longest restore upload. The request lasts as long as the client takes to
 * send the archive, so the usual per-request deadline would cut big restores;
 * this one only ends an engine that stopped answering for good.
 */
const ARCHIVE_UPLOAD_TIMEOUT_MS = 30 * 60_000;
/** Docker's "never happened" timestamp in StartedAt/FinishedAt. */
const ZERO_DATE_PREFIX = '0001-01-01';

/**
 * A request the engine answered with an error status; `engineStatus` lets
 * callers treat 404/304/409 as outcomes. Unexpected ones reach the client as
 * 502 saying what the gateway tried, never as a bare 500; the engine's own
 * words (host paths, mount sources, other containers) go to the log only.
 */
export class DockerEngineError extends GatewayError {
  constructor(
    readonly engineStatus: number,
    readonly engineMessage: string,
    what: string,
  ) {
    super('engine_error', 502, `The workspace engine refused to ${what}; staff can find why in the gateway's log.`, {}, `${what}: ${engineStatus} ${engineMessage}`);
  }
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EACCES',
  'EPERM',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ABORT_ERR',
  'UND_ERR_SOCKET',
]);

class RequestTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${Math.round(ms / 100) / 10} s`);
    this.name = 'TimeoutError';
  }
}

function errorField(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}

/**
 * The one place that decides what an engine failure means: no answer at all
 * (socket missing, refused, reset, timed out) is the engine being unavailable;
 * an HTTP status is the engine's own answer, kept with its message.
 */
function toEngineError(what: string, err: unknown): Error {
  if (err instanceof GatewayError) return err;
  const status = errorField(err, 'statusCode');
  if (typeof status === 'number') {
    const json = errorField(err, 'json');
    const fromJson = errorField(json, 'message');
    const message = typeof fromJson === 'string' ? fromJson : err instanceof Error ? err.message : String(err);
    return new DockerEngineError(status, message.trim(), what);
  }
  const code = errorField(err, 'code');
  const name = errorField(err, 'name');
  const message = err instanceof Error ? err.message : String(err);
  if (
    (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) ||
    name === 'AbortError' ||
    name === 'TimeoutError' ||
    /socket hang up|ECONNREFUSED|ECONNRESET/i.test(message)
  ) {
    return new EngineUnavailableError(`${what}: ${typeof code === 'string' ? code : message}`);
  }
  return err instanceof Error ? err : new Error(`${what}: ${message}`);
}

/**
 * What a user is told when their spawn fails: the gateway's own sentences
 * pass as they are; the engine's (or a library's) words become `detail`,
 * for the log.
 */
function asSpawnFailure(err: unknown): GatewayError {
  if (err instanceof DockerEngineError) return new SpawnFailedError('the workspace engine refused to create or start the container; try again, and tell staff if it keeps happening.', err.detail);
  if (err instanceof GatewayError) return err;
  return new SpawnFailedError('something went wrong while the container was prepared; try again, and tell staff if it keeps happening.', err instanceof Error ? err.message : String(err));
}

const statusOf = (err: unknown): number | undefined => (err instanceof DockerEngineError ? err.engineStatus : undefined);

type Outcome = { state: WorkspaceState; reason?: string };

/** The seed's state table, read from the engine's container state. */
function outcomeOf(status: string, exitCode: number | undefined, oomKilled: boolean, engineError?: string): Outcome {
  switch (status) {
    case 'running':
      return { state: 'running' };
    case 'created':
    case 'exited': {
      if (oomKilled) return { state: 'error', reason: 'out of memory (killed by the engine)' };
      // 143 is SIGTERM: what `docker stop` sends and the editor honours.
      if (exitCode === undefined || exitCode === 0 || exitCode === 143) {
        return engineError ? { state: 'error', reason: engineError } : { state: 'stopped' };
      }
      return { state: 'error', reason: `exited with code ${exitCode}` + (engineError ? ` (${engineError})` : '') };
    }
    case 'paused':
      return { state: 'error', reason: 'paused on the engine' };
    case 'removing':
      return { state: 'error', reason: 'being removed' };
    default:
      return { state: 'error', reason: `container is ${status}` + (engineError ? ` (${engineError})` : '') };
  }
}

const dateOf = (value: string | undefined): Date | undefined => {
  if (!value || value.startsWith(ZERO_DATE_PREFIX)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
};

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

interface EngineEvent {
  Type?: string;
  Action?: string;
  status?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * One container per user on one Docker Engine, on a bridge network whose
 * containers cannot reach each other (ICC off): the gateway, on the host side
 * of the bridge, is the only one that reaches an editor. No port is published.
 */
export class DockerRuntime implements Runtime {
  readonly name = 'docker';
  readonly isolated = true;
  private readonly config: DockerRuntimeSettings;
  private readonly docker: Docker;
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private initialised?: Promise<void>;

  constructor(options: DockerRuntimeOptions) {
    this.config = options.config;
    this.docker = options.docker ?? new Docker();
    this.logger = options.logger.child({ runtime: 'docker' });
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** Makes sure the workspace network exists and isolates its containers. Safe to call again. */
  init(): Promise<void> {
    this.initialised ??= this.ensureNetwork().catch((err: unknown) => {
      // Let a later call try again (the engine may come back, an operator may fix the network).
      this.initialised = undefined;
      throw err;
    });
    return this.initialised;
  }

  async start(user: string, onProgress?: ProgressListener): Promise<WorkspaceInfo> {
    await this.init();
    try {
      return await this.startContainer(user, onProgress);
    } catch (err) {
      const failure = asSpawnFailure(err);
      if (failure.detail) this.logger.warn({ user, code: failure.code, detail: failure.detail }, 'the engine could not start a workspace');
      throw failure;
    }
  }

  async inspect(user: string): Promise<WorkspaceInfo> {
    const container = await this.inspectContainer(user);
    return container ? this.infoOf(user, container) : { user, state: 'absent' };
  }

  async stop(user: string): Promise<void> {
    const container = this.docker.getContainer(this.containerName(user));
    try {
      await this.call('stop container', (abortSignal) => container.stop({ t: STOP_GRACE_SECONDS, abortSignal }), STOP_GRACE_SECONDS * 1000 + this.requestTimeoutMs);
    } catch (err) {
      if (statusOf(err) === 304 || statusOf(err) === 404) return;
      throw err;
    }
  }

  async remove(user: string, options: { volume?: boolean } = {}): Promise<void> {
    const container = this.docker.getContainer(this.containerName(user));
    try {
      await this.call('remove container', (abortSignal) => container.remove({ force: true, abortSignal }));
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!options.volume) return;
    // storage=bind: the host folder is left alone on purpose. It may hold data
    // that predates the gateway, and deleting a host path assembled from
    // settings is one typo away from deleting the wrong tree; an operator
    // removes (or archives) it by hand.
    if (this.config.storage !== 'volume') {
      this.logger.info({ user, folder: this.bindFolder(user) }, 'workspace removed; its bind folder is kept on the host');
      return;
    }
    const volume = this.docker.getVolume(this.volumeName(user));
    try {
      await this.call('remove volume', (abortSignal) => volume.remove({ abortSignal }));
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  async backup(user: string): Promise<Readable> {
    if (this.config.storage === 'bind') return packFolder(this.bindFolder(user));
    const container = await this.dataContainer(user, { createVolume: false });
    if (!container) throw noWorkspaceData();
    // With `<dir>/.` the engine names entries `./…`, relative to the folder
    // (as `docker cp <dir>/.` copies its contents); plain `<dir>` would prefix
    // every entry with `project/`.
    const archive = await this.call('read workspace archive', (abortSignal) =>
      this.docker.getContainer(container.Id).getArchive({ path: `${PROJECT_DIR}/.`, abortSignal }),
    );
    return archive instanceof Readable ? archive : new Readable().wrap(archive);
  }

  /**
   * The engine extracts as root and keeps each entry's owner, so entries are
   * re-packed on the way with the workspace user as owner (see
   * rewriteOwners); a bind folder is written by node-tar with that owner.
   */
  async restore(user: string, archive: Readable): Promise<void> {
    const owner = parseOwner(this.config.workspace_uid);
    const logger = this.logger.child({ user });
    if (this.config.storage === 'bind') {
      await this.prepareStorage(user);
      return unpackInto(this.bindFolder(user), archive, logger, owner);
    }
    const container = await this.dataContainer(user, { createVolume: true });
    if (!container) throw noWorkspaceData();
    const upload = rewriteOwners(archive, owner, logger);
    try {
      await this.call(
        'write workspace archive',
        (abortSignal) => this.docker.getContainer(container.Id).putArchive(upload.tar, { path: PROJECT_DIR, abortSignal }),
        ARCHIVE_UPLOAD_TIMEOUT_MS,
      );
    } catch (err) {
      upload.stop();
      // A bad archive or a failed client upload also fails the request;
      // report that, not how the engine connection ended.
      throw upload.failure() ?? err;
    }
    const failure = upload.failure();
    if (failure) throw failure;
  }

  async list(): Promise<WorkspaceInfo[]> {
    // One request however many workspaces exist: everything comes from the
    // list output (no per-container inspect), at the price of OOM kills
    // showing as "exited with code 137" here and created/started dates only
    // in inspect().
    const containers = await this.call('list containers', (abortSignal) =>
      this.docker.listContainers({ all: true, filters: { label: this.scopeLabels() }, abortSignal }),
    );
    const infos: WorkspaceInfo[] = [];
    for (const c of containers) {
      const user = c.Labels?.[LABEL.user];
      if (!user) continue;
      const exit = /^Exited \((-?\d+)\)/.exec(c.Status ?? '');
      const { state, reason } = outcomeOf(c.State, exit ? Number(exit[1]) : undefined, false);
      const info: WorkspaceInfo = { user, state, id: c.Id, image: c.Labels[LABEL.image], createdAt: new Date(c.Created * 1000) };
      if (reason) info.reason = reason;
      const ip = c.NetworkSettings?.Networks?.[this.config.network]?.IPAddress;
      if (state === 'running' && ip) info.endpoint = { host: ip, port: this.config.workspace_port };
      infos.push(info);
    }
    return infos;
  }

  async ping(): Promise<void> {
    // dockerode's types omit ping's options; its code passes the abort signal on.
    const ping = this.docker.ping.bind(this.docker) as unknown as (options: { abortSignal: AbortSignal }) => Promise<unknown>;
    await this.call('ping', (abortSignal) => ping({ abortSignal }), PING_TIMEOUT_MS);
  }

  async *events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    let backoff = 250;
    // After a reconnect, ask the engine to replay what happened while we were
    // away (`since`), and drop what we already saw.
    let lastNano = 0n;
    while (!signal.aborted) {
      try {
        const stream = await this.openEventStream(signal, lastNano);
        backoff = 250;
        for await (const { event, nano } of this.readEvents(stream)) {
          if (nano !== undefined) {
            if (nano <= lastNano) continue;
            lastNano = nano;
          }
          const mapped = this.runtimeEventOf(event);
          if (mapped) yield mapped;
        }
        if (!signal.aborted) this.logger.warn('engine event stream ended; reconnecting');
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn({ err: toEngineError('events', err) }, 'engine event stream failed; reconnecting');
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, EVENTS_MAX_BACKOFF_MS);
    }
  }

  async close(): Promise<void> {
    // Nothing to release: dockerode keeps no connections open between
    // requests, and event streams end with the signal their consumer holds.
  }

  // ── internals ────────────────────────────────────────────────────────────

  private containerName(user: string): string {
    return `${this.config.container_prefix}${user}`;
  }

  private volumeName(user: string): string {
    return `${this.config.container_prefix}${user}_data`;
  }

  private bindFolder(user: string): string {
    return join(this.config.bind_root, user);
  }

  private scopeLabels(): string[] {
    return [`${LABEL.managed}=true`, `${LABEL.instance}=${this.config.instance}`];
  }

  private labels(user?: string): Record<string, string> {
    const labels: Record<string, string> = { [LABEL.managed]: 'true', [LABEL.instance]: this.config.instance };
    if (user !== undefined) {
      labels[LABEL.user] = user;
      labels[LABEL.image] = this.config.image;
    }
    return labels;
  }

  /**
   * Runs one engine request with a deadline and maps its failure. Requests
   * get the abort signal where dockerode passes it on; the race covers those
   * where it does not, so no caller ever waits on a silent engine.
   */
  private async call<T>(what: string, request: (signal: AbortSignal) => Promise<T>, timeoutMs = this.requestTimeoutMs): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new RequestTimeout(timeoutMs));
        controller.abort();
      }, timeoutMs);
    });
    try {
      return await Promise.race([request(controller.signal), deadline]);
    } catch (err) {
      throw toEngineError(what, err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async ensureNetwork(): Promise<void> {
    const { network } = this.config;
    let info = await this.inspectNetwork(network);
    if (!info) {
      try {
        await this.call('create network', (abortSignal) =>
          this.docker.createNetwork({
            Name: network,
            Driver: 'bridge',
            CheckDuplicate: true,
            Options: { [ICC_OPTION]: 'false' },
            Labels: this.labels(),
            abortSignal,
          }),
        );
        this.logger.info({ network }, 'created the workspace network (container-to-container traffic off)');
      } catch (err) {
        // 409: another gateway (or a parallel init) created it first; check theirs below.
        if (statusOf(err) !== 409) throw err;
      }
      info = await this.inspectNetwork(network);
      if (!info) throw new Error(`network ${network} vanished right after it was created`);
    }
    if (info.Driver !== 'bridge' || info.Options?.[ICC_OPTION] !== 'false') {
      // The editors run with --auth none: on a network where containers reach
      // each other, any student could open a neighbour's editor.
      throw new Error(
        `network ${network} lets containers reach each other (driver ${info.Driver}, ${ICC_OPTION}=${info.Options?.[ICC_OPTION] ?? 'unset'}); ` +
          `workspaces must not run there. Remove it (docker network rm ${network}) so the gateway creates it, ` +
          `or create it with: docker network create -o ${ICC_OPTION}=false ${network}`,
      );
    }
  }

  private async inspectNetwork(name: string): Promise<Docker.NetworkInspectInfo | undefined> {
    try {
      // dockerode's network inspect takes no abort signal; the deadline race still bounds it.
      return (await this.call('inspect network', () => this.docker.getNetwork(name).inspect())) as Docker.NetworkInspectInfo;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private async inspectContainer(user: string): Promise<Docker.ContainerInspectInfo | undefined> {
    const container = this.docker.getContainer(this.containerName(user));
    try {
      return await this.call('inspect container', (abortSignal) => container.inspect({ abortSignal }));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private infoOf(user: string, c: Docker.ContainerInspectInfo): WorkspaceInfo {
    const s = c.State;
    const { state, reason } = outcomeOf(s.Status, s.ExitCode, s.OOMKilled, s.Error || undefined);
    const info: WorkspaceInfo = { user, state, id: c.Id, image: c.Config.Labels?.[LABEL.image] ?? c.Config.Image };
    const createdAt = dateOf(c.Created);
    const startedAt = dateOf(s.StartedAt);
    const finishedAt = dateOf(s.FinishedAt);
    if (createdAt) info.createdAt = createdAt;
    if (startedAt) info.startedAt = startedAt;
    if (finishedAt && state !== 'running') info.finishedAt = finishedAt;
    if (reason) info.reason = reason;
    const ip = c.NetworkSettings.Networks?.[this.config.network]?.IPAddress;
    if (state === 'running' && ip) info.endpoint = { host: ip, port: this.config.workspace_port };
    return info;
  }

  /** A stopped container built from other settings than today's is replaced (its data stays). */
  private isStale(c: Docker.ContainerInspectInfo): boolean {
    return c.Config.Labels?.[LABEL.image] !== this.config.image || c.HostConfig.NetworkMode !== this.config.network;
  }

  private async startContainer(user: string, onProgress?: ProgressListener): Promise<WorkspaceInfo> {
    const name = this.containerName(user);
    let current = await this.inspectContainer(user);
    if (current && current.State.Status !== 'running' && this.isStale(current)) {
      this.logger.info({ user, was: current.Config.Labels?.[LABEL.image], image: this.config.image }, 're-creating a stopped workspace with the current image');
      await this.remove(user, { volume: false });
      current = undefined;
    }
    if (!current) {
      onProgress?.({ phase: 'creating', message: 'Creating your workspace' });
      current = await this.createAndInspect(user);
    }
    if (current.State.Status !== 'running') {
      onProgress?.({ phase: 'starting', message: 'Starting your workspace' });
      const container = this.docker.getContainer(current.Id);
      try {
        if (current.State.Paused) await this.call('unpause container', (abortSignal) => container.unpause({ abortSignal }));
        else await this.call('start container', (abortSignal) => container.start({ abortSignal }));
      } catch (err) {
        // 304: a concurrent start won; fine.
        if (statusOf(err) !== 304) throw err;
      }
      current = await this.inspectContainer(user);
      if (!current) throw new SpawnFailedError(`the container ${name} was removed while it started`);
    }
    const info = this.infoOf(user, current);
    if (info.state !== 'running') throw new SpawnFailedError(info.reason ?? `the container is ${current.State.Status}`);
    if (!info.endpoint) throw new SpawnFailedError(`the container runs but has no address on network ${this.config.network}`);
    return info;
  }

  /**
   * A container to read or write the user's volume through: the existing one
   * in whatever state, else one created (not started) by the same path as
   * start() uses, so it is the workspace's own. Without `createVolume`, only
   * when the volume already holds data; undefined otherwise.
   */
  private async dataContainer(user: string, options: { createVolume: boolean }): Promise<Docker.ContainerInspectInfo | undefined> {
    const existing = await this.inspectContainer(user);
    if (existing) return existing;
    if (!options.createVolume && !(await this.volumeExists(user))) return undefined;
    await this.init();
    return this.createAndInspect(user);
  }

  private async volumeExists(user: string): Promise<boolean> {
    const volume = this.docker.getVolume(this.volumeName(user));
    try {
      await this.call('inspect volume', (abortSignal) => volume.inspect({ abortSignal }));
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  private async createAndInspect(user: string): Promise<Docker.ContainerInspectInfo> {
    const deadline = Date.now() + CREATE_RACE_WAIT_MS;
    for (let round = 1; ; round++) {
      const created = await this.createContainer(user);
      const current = await this.inspectContainer(user);
      if (current) return current;
      if (created) throw new SpawnFailedError(`the container ${this.containerName(user)} disappeared right after it was created`);
      // The engine reserves the name before the container can be inspected, so
      // the loser of a create race may briefly see neither. Asking to create
      // again is cheap (409 while the winner works) and takes over if it failed.
      if (Date.now() > deadline) throw new SpawnFailedError(`another request is creating ${this.containerName(user)} and it did not appear`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * round, 250)));
    }
  }

  /** True when this call created the container, false when a concurrent creator holds the name. */
  private async createContainer(user: string): Promise<boolean> {
    const { config } = this;
    const mount = await this.prepareStorage(user);
    try {
      await this.call('create container', (abortSignal) =>
        this.docker.createContainer({
          name: this.containerName(user),
          Image: config.image,
          User: config.workspace_uid,
          Env: [`WORKSPACE_USER=${user}`, `PORT=${config.workspace_port}`],
          Labels: this.labels(user),
          ExposedPorts: { [`${config.workspace_port}/tcp`]: {} },
          HostConfig: {
            Memory: config.memory_limit,
            // Same as Memory: no swap on top, so the limit means what it says.
            MemorySwap: config.memory_limit,
            NanoCpus: Math.round(config.cpu_limit * 1e9),
            PidsLimit: config.pids_limit,
            CapDrop: ['ALL'],
            CapAdd: config.cap_add,
            SecurityOpt: ['no-new-privileges:true'],
            Mounts: [mount],
            NetworkMode: config.network,
            RestartPolicy: { Name: 'no' },
            PortBindings: {},
            PublishAllPorts: false,
          },
          abortSignal,
        }),
      );
      return true;
    } catch (err) {
      const status = statusOf(err);
      // 409: a concurrent creator (another request, another gateway) won; use theirs.
      if (status === 409) return false;
      if (status === 404 && err instanceof DockerEngineError) {
        if (/no such image/i.test(err.engineMessage)) {
          throw new SpawnFailedError(`the image ${config.image} is missing on the engine (the gateway never pulls images; build or load it there first)`);
        }
        if (/network/i.test(err.engineMessage)) this.initialised = undefined;
      }
      throw err;
    }
  }

  private async prepareStorage(user: string): Promise<{ Type: 'volume' | 'bind'; Source: string; Target: string }> {
    if (this.config.storage === 'bind') {
      // Assumes the gateway sees bind_root at the same path as the engine's host.
      const folder = this.bindFolder(user);
      const [uid, gid] = this.config.workspace_uid.split(':').map(Number);
      await mkdir(folder, { recursive: true });
      await chown(folder, uid!, gid!);
      return { Type: 'bind', Source: folder, Target: PROJECT_DIR };
    }
    // Created explicitly (not implicitly by the mount) so the volume carries our labels.
    await this.call('create volume', (abortSignal) => this.docker.createVolume({ Name: this.volumeName(user), Labels: this.labels(user), abortSignal }));
    return { Type: 'volume', Source: this.volumeName(user), Target: PROJECT_DIR };
  }

  private async openEventStream(signal: AbortSignal, sinceNano: bigint): Promise<NodeJS.ReadableStream> {
    // Not this.call(): its deadline would also cut the long-lived stream. The
    // connect deadline only covers getting the response headers.
    const controller = new AbortController();
    const forward = () => controller.abort();
    signal.addEventListener('abort', forward, { once: true });
    const timer = setTimeout(() => controller.abort(), EVENTS_CONNECT_TIMEOUT_MS);
    // `since` as a string keeps nanoseconds, which the typed number would not.
    const options: Omit<Docker.GetEventsOptions, 'since'> & { since?: string } = {
      filters: { type: ['container'], label: this.scopeLabels(), event: ['die', 'stop', 'destroy', 'oom'] },
      abortSignal: controller.signal,
    };
    if (sinceNano > 0n) options.since = nanoTimestamp(sinceNano);
    try {
      const stream = (await this.docker.getEvents(options as Docker.GetEventsOptions)) as NodeJS.ReadableStream;
      const release = () => signal.removeEventListener('abort', forward);
      stream.once('end', release);
      stream.once('error', release);
      stream.once('close', release);
      return stream;
    } catch (err) {
      signal.removeEventListener('abort', forward);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Newline-delimited JSON; a chunk may end mid-line (or mid-character).
   * `timeNano` is read from the text because it does not fit a double.
   */
  private async *readEvents(stream: NodeJS.ReadableStream): AsyncGenerator<{ event: EngineEvent; nano?: bigint }> {
    stream.setEncoding('utf8');
    let pending = '';
    for await (const chunk of stream) {
      pending += String(chunk);
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (!line) continue;
        try {
          const event = JSON.parse(line) as EngineEvent;
          const nano = /"timeNano":\s*(\d+)/.exec(line)?.[1];
          yield nano === undefined ? { event } : { event, nano: BigInt(nano) };
        } catch {
          this.logger.warn({ line: line.slice(0, 200) }, 'ignoring an engine event that is not JSON');
        }
      }
    }
  }

  private runtimeEventOf(event: EngineEvent): RuntimeEvent | undefined {
    const attributes = event.Actor?.Attributes ?? {};
    const user = attributes[LABEL.user];
    if (!user || attributes[LABEL.instance] !== this.config.instance) return undefined;
    const action = event.Action ?? event.status;
    switch (action) {
      case 'die': {
        const code = Number(attributes.exitCode);
        if (code === 0 || code === 143) return { user, kind: 'stopped' };
        return { user, kind: 'died', reason: Number.isFinite(code) ? `exited with code ${code}` : 'exited' };
      }
      case 'stop':
        return { user, kind: 'stopped' };
      case 'destroy':
        return { user, kind: 'removed' };
      case 'oom':
        return { user, kind: 'died', reason: 'out of memory (killed by the engine)' };
      default:
        return undefined;
    }
  }
}

/** Docker reads `since` as seconds with an optional nanosecond fraction. */
function nanoTimestamp(nano: bigint): string {
  return `${nano / 1_000_000_000n}.${(nano % 1_000_000_000n).toString().padStart(9, '0')}`;
}
