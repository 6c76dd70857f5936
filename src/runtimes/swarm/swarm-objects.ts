import type Docker from 'dockerode';

/**
 * The parts of the engine's swarm objects the runtime reads. dockerode leaves
 * tasks and nodes untyped; these say what the gateway relies on.
 */

/** Swarm's task states, in the order a task goes through them. */
export type TaskState =
  | 'new'
  | 'allocated'
  | 'pending'
  | 'assigned'
  | 'accepted'
  | 'preparing'
  | 'ready'
  | 'starting'
  | 'running'
  | 'complete'
  | 'shutdown'
  | 'failed'
  | 'rejected'
  | 'remove'
  | 'orphaned';

export interface SwarmTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  Slot?: number;
  CreatedAt?: string;
  UpdatedAt?: string;
  DesiredState?: TaskState;
  Status?: {
    Timestamp?: string;
    State?: TaskState;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
  NetworksAttachments?: { Network?: { ID?: string; Spec?: { Name?: string } }; Addresses?: string[] }[];
}

export interface SwarmNode {
  ID: string;
  Description?: { Hostname?: string };
  Spec?: { Availability?: 'active' | 'pause' | 'drain'; Role?: 'manager' | 'worker' };
  Status?: { State?: 'unknown' | 'down' | 'ready' | 'disconnected'; Addr?: string };
}

/** A service as the runtime reads it (dockerode's type also carries the client's methods). */
export type SwarmService = Pick<Docker.Service, 'ID' | 'Spec' | 'Version' | 'CreatedAt'>;
