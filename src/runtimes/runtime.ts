import type { Readable } from 'node:stream';

/**
 * The one seam between the gateway and whatever runs workspaces (Docker, Swarm,
 * local processes). The gateway's proxy, auth, idle policy and API only ever
 * talk to this interface. Runtimes read the truth back from the engine (labels,
 * state), so a restarted gateway finds what already runs.
 */

/** Lifecycle states of the seed's table; `removed` is simply `absent` again. */
export type WorkspaceState = 'absent' | 'creating' | 'running' | 'stopped' | 'error';

/** Where the workspace's editor listens, as seen from the gateway. */
export type Endpoint = { host: string; port: number } | { socketPath: string };

export interface WorkspaceInfo {
  user: string;
  state: WorkspaceState;
  /** Engine id (container id, process id), stable across stop/start. */
  id?: string;
  /** Image (or command) the workspace was created from. */
  image?: string;
  createdAt?: Date;
  startedAt?: Date;
  finishedAt?: Date;
  /** Set while running. */
  endpoint?: Endpoint;
  /** Why the workspace is in `error`: failed start, exit code, out-of-memory kill. */
  reason?: string;
}

export type SpawnPhase = 'queued' | 'creating' | 'starting' | 'waiting' | 'ready' | 'failed';

export interface SpawnProgress {
  phase: SpawnPhase;
  message: string;
  /** Place in the spawn queue while `queued` (1 = next). */
  position?: number;
}

export type ProgressListener = (event: SpawnProgress) => void;

/** Something the engine did by itself (crash, stop from outside, removal). */
export interface RuntimeEvent {
  user: string;
  /** Engine id of the instance the event is about, so news of a replaced container is ignored. */
  id?: string;
  kind: 'died' | 'stopped' | 'removed';
  reason?: string;
}

export interface Runtime {
  readonly name: string;
  /** False for runtimes whose workspaces are not sandboxed (the `process` runtime). */
  readonly isolated: boolean;
  /**
   * Creates the workspace when absent (or when its image changed while stopped),
   * starts it when stopped, and resolves once the engine reports it running.
   * Waiting for the editor to answer is the caller's job.
   */
  start(user: string, onProgress?: ProgressListener): Promise<WorkspaceInfo>;
  /** Current state as the engine sees it; `absent` when nothing exists. */
  inspect(user: string): Promise<WorkspaceInfo>;
  stop(user: string): Promise<void>;
  /** Removes the workspace; its data only when `volume` is set. */
  remove(user: string, options?: { volume?: boolean }): Promise<void>;
  /**
   * The user's files as an uncompressed tar stream, entries relative to the
   * workspace folder; works while the workspace is stopped. Throws
   * NotFoundError when the user has no workspace data at all.
   */
  backup(user: string): Promise<Readable>;
  /**
   * Unpacks an uncompressed tar stream (entries relative to the workspace
   * folder) into the user's workspace folder, creating the workspace's storage
   * if needed; files in the archive overwrite existing ones, others are kept.
   */
  restore(user: string, archive: Readable): Promise<void>;
  /** Every workspace this gateway owns. */
  list(): Promise<WorkspaceInfo[]>;
  /** Throws EngineUnavailableError when the engine does not answer. */
  ping(): Promise<void>;
  /** Engine events until `signal` aborts. */
  events(signal: AbortSignal): AsyncIterable<RuntimeEvent>;
  close(): Promise<void>;
}
