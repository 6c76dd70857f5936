import type { Endpoint } from '../runtimes/runtime.js';

/**
 * What the proxy hot path needs to know of workspaces: the WorkspaceManager
 * itself, or in a cluster worker its copy of the manager's answers.
 */
export interface WorkspaceDirectory {
  /** Where a running workspace that takes requests listens, without asking anyone. */
  endpointOf(user: string): Endpoint | undefined;
  /** Activity by the student (a request, a WebSocket data frame). */
  touch(user: string, kind: string): void;
  /** The proxy could not connect: the endpoint is no longer to be trusted. */
  unreachable(user: string): void;
}
