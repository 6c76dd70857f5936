import type { MetricsJson } from '../metrics/metrics.js';
import type { Endpoint } from '../runtimes/runtime.js';

/** Leader → worker, over the cluster's IPC channel. */
export type ToWorker =
  /** Where each workspace that takes requests listens; sent whole when a worker is ready. */
  | { type: 'endpoints'; entries: [user: string, endpoint: Endpoint][] }
  /** One workspace's endpoint changed; none means it takes no requests now. */
  | { type: 'endpoint'; user: string; endpoint?: Endpoint }
  /** Close the user's WebSockets with this code (the workspace is stopping or went down). */
  | { type: 'close-sockets'; user: string; code: number; reason: string }
  /** A session was logged out: refuse it and close its WebSockets. */
  | { type: 'session-ended'; session: { id: string; startedAt: number } }
  | { type: 'metrics-request'; id: number };

/** Worker → leader. */
export type ToLeader =
  /** The worker listens for messages now (earlier ones were lost): time for the whole picture. */
  | { type: 'ready' }
  /** Student activity seen by the worker since the last batch: user, epoch ms, kind. */
  | { type: 'activity'; entries: [user: string, at: number, kind: string][] }
  /** A workspace refused the worker's connection: its endpoint is stale. */
  | { type: 'unreachable'; user: string }
  | { type: 'metrics'; id: number; metrics: MetricsJson };
