import type { Readable } from 'node:stream';

/**
 * The one seam between the gateway and whatever runs workspaces (Docker, Swarm,
 * local processes, later Kubernetes). The gateway's proxy, auth, idle policy
 * and API only ever talk to this interface; sablier's providers and
 * JupyterHub's Spawner are the models. Runtimes read the truth back from the
 * engine (labels, state), so a restarted gateway finds what already runs.
 */

/** Lifecycle states of the seed's table; `removed` is simply `absent` again. */
export type WorkspaceState = 'absent' | 'creating' | 'running' | 'stopped' | 'error';

/** Where the workspace's editor listens, as seen from the gateway. */
export type Endpoint = { host: string; port: number } | { socketPath: string };

export interface WorkspaceInfo {
  user: string;
  state: WorkspaceState;
  /**
   * The current instance: a container id, a pid, a task or pod id. It may
   * change on every start (a pid or a pod always does), so consumers only
   * compare it with the one they saw last, to ignore news about an instance
   * that has been replaced.
   */
  id?: string;
  /** Image (or command) the workspace was created from. */
  image?: string;
  createdAt?: Date;
  startedAt?: Date;
  finishedAt?: Date;
  /** Set while running. */
  endpoint?: Endpoint;
  /** Why the workspace is in `error`, as a sentence its owner may read: failed start, exit code, out-of-memory kill. */
  reason?: string;
  /** What the engine said about it (host paths, mount sources): for the log only, never shown to a client. */
  detail?: string;
}

/** A runtime's own steps while it starts a workspace; queueing and readiness belong to src/workspaces/. */
export type RuntimePhase = 'creating' | 'pulling' | 'scheduled' | 'starting';

export interface RuntimeProgress {
  phase: RuntimePhase;
  /** A short sentence for the starting page: "Creating your container", "Placed on node-2". */
  detail: string;
}

export interface StartOptions {
  /**
   * Aborted when the gateway gives the start up (its spawn deadline passed,
   * or the gateway shuts down). The runtime then stops waiting and undoes
   * what this start did that would otherwise linger: a service that cannot
   * be placed is scaled back to 0, a container that never got going is
   * stopped. It rejects with the signal's reason.
   */
  signal?: AbortSignal;
  onProgress?: (progress: RuntimeProgress) => void;
}

/**
 * Something the engine did by itself (crash, stop from outside, removal),
 * or `gap`: events may have been lost (the stream broke and came back), so
 * the consumer lists again. A runtime keeps its own resume point (Docker's
 * `since`) and yields `gap` only when it cannot prove nothing was missed.
 */
export type RuntimeEvent =
  | {
      kind: 'died' | 'stopped' | 'removed';
      user: string;
      /** The instance the event is about (see WorkspaceInfo.id). */
      id?: string;
      reason?: string;
    }
  | { kind: 'gap' };

/**
 * A workspace's files, where the engine lets the gateway read and write
 * them (a volume through the engine's archive API, a local folder). A
 * runtime without such an API leaves `storage` out instead of faking it.
 */
export interface RuntimeStorage {
  /** Whether the user has workspace data at all, running or not. */
  exists(user: string): Promise<boolean>;
  /**
   * The user's files as an uncompressed tar stream, entries relative to the
   * workspace folder; works while the workspace is stopped. Throws
   * NotFoundError when the user has no workspace data.
   */
  backup(user: string): Promise<Readable>;
  /**
   * Unpacks an uncompressed tar stream (entries relative to the workspace
   * folder) into the user's workspace folder, creating the storage if
   * needed; files in the archive overwrite existing ones, others are kept.
   */
  restore(user: string, archive: Readable): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  /**
   * Resolves when the runtime can start workspaces: the engine answers
   * (asked on every call) and what every workspace needs exists and is safe
   * (checked and created once: the private network with container-to-
   * container traffic off, the data root). Run at start-up and by /readyz.
   * Throws EngineUnavailableError when the engine does not answer, or a
   * GatewayError saying what is unsafe.
   */
  prepare(): Promise<void>;
  /**
   * Creates the workspace when absent (or when its image changed while
   * stopped), starts it when stopped, and resolves once the engine reports
   * it running. Concurrent calls for one user give one instance. Waiting for
   * the editor to answer is the caller's job.
   */
  start(user: string, options?: StartOptions): Promise<WorkspaceInfo>;
  /** Current state as the engine sees it; `absent` when nothing exists. */
  inspect(user: string): Promise<WorkspaceInfo>;
  stop(user: string): Promise<void>;
  /** Removes the workspace; its data only when `volume` is set. */
  remove(user: string, options?: { volume?: boolean }): Promise<void>;
  /** Every workspace this gateway owns (by label), in one engine call where the engine allows. */
  list(): Promise<WorkspaceInfo[]>;
  /** Engine events until `signal` aborts (see RuntimeEvent for `gap`). */
  events(signal: AbortSignal): AsyncIterable<RuntimeEvent>;
  /** The workspaces' files, where this runtime can reach them. */
  readonly storage?: RuntimeStorage;
  /**
   * Moves a stopped workspace's files, and where it runs from then on, to
   * another host (a node id or name), on runtimes that have hosts to choose
   * from and keep files on one of them. Absent elsewhere.
   */
  move?(user: string, host: string): Promise<void>;
  close(): Promise<void>;
}
