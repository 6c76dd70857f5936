import type { SwarmSettings } from '../../config/settings.js';
import { outcomeOf } from '../docker/container-state.js';
import { LABEL } from '../engine/labels.js';
import type { WorkspaceInfo } from '../runtime.js';
import { networkName } from './names.js';
import type { SwarmNode, SwarmTask, TaskState, SwarmService } from './swarm-objects.js';

/** What the owner reads when their workspace's node is down, drained or gone. */
export const HOST_UNAVAILABLE = 'its host is unavailable';

/** States of a task on its way to running. */
const ON_THE_WAY: ReadonlySet<TaskState> = new Set(['new', 'allocated', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting']);

type Addressing = Pick<SwarmSettings, 'container_prefix' | 'workspace_port'>;

/** What a workspace's state is read from besides its service: the services' tasks and the swarm's nodes, by id. */
export interface SwarmPicture {
  tasks: SwarmTask[];
  nodes: ReadonlyMap<string, SwarmNode>;
}

export const replicasOf = (service: SwarmService): number => service.Spec?.Mode?.Replicated?.Replicas ?? 0;

/** The node a service is pinned to (its volume's), from its labels. */
export const pinnedNode = (service: SwarmService): string | undefined => service.Spec?.Labels?.[LABEL.node];

/** A node that cannot run a task now: down, drained, or no longer in the swarm. */
export const unavailable = (node: SwarmNode | undefined): boolean => !node || node.Status?.State !== 'ready' || node.Spec?.Availability === 'drain';

/** A task's creation time as text that sorts: swarm trims trailing zeros of the nanoseconds, so the fraction is padded back. */
const createdKey = (task: SwarmTask): string => {
  const [seconds = '', fraction = ''] = (task.CreatedAt ?? '').replace(/Z$/, '').split('.');
  return `${seconds}.${fraction.padEnd(9, '0')}`;
};

/** The service's current task: the newest one (swarm keeps a few old ones as history). */
export function currentTask(service: SwarmService, tasks: SwarmTask[]): SwarmTask | undefined {
  let newest: SwarmTask | undefined;
  for (const task of tasks) {
    if (task.ServiceID !== service.ID) continue;
    if (!newest || createdKey(task) > createdKey(newest)) newest = task;
  }
  return newest;
}

/** Where the task's editor listens: its address on the user's own network. */
export function endpointOf(user: string, task: SwarmTask, settings: Addressing): WorkspaceInfo['endpoint'] {
  const network = networkName(settings, user);
  const address = task.NetworksAttachments?.find((a) => a.Network?.Spec?.Name === network)?.Addresses?.[0];
  const host = address?.split('/')[0];
  return host ? { host, port: settings.workspace_port } : undefined;
}

function dateOf(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * A service, its tasks and the nodes as the workspace they are: one replica
 * wanted and a running task is `running`; scaled to 0 is `stopped`; a task on
 * its way is `creating`, unless it cannot be placed or its node is away
 * (`error`, saying so); a task that ended is read like a container that
 * exited (a clean exit or SIGTERM is `stopped`, other codes `error`).
 */
export function workspaceOfService(user: string, service: SwarmService, { tasks, nodes }: SwarmPicture, settings: Addressing): WorkspaceInfo {
  const task = currentTask(service, tasks);
  const info: WorkspaceInfo = { user, state: 'stopped', id: task?.ID ?? service.ID, image: service.Spec?.Labels?.[LABEL.image] };
  const createdAt = dateOf(service.CreatedAt);
  if (createdAt) info.createdAt = createdAt;
  const error = (reason: string, detail?: string): WorkspaceInfo => Object.assign(info, { state: 'error', reason }, detail ? { detail } : {});
  if (replicasOf(service) === 0) {
    const finishedAt = dateOf(task?.Status?.Timestamp);
    if (finishedAt) info.finishedAt = finishedAt;
    return info;
  }
  const nodeId = task?.NodeID ?? pinnedNode(service);
  const away = nodeId !== undefined && unavailable(nodes.get(nodeId));
  const state = task?.Status?.State;
  if (!task || !state || ON_THE_WAY.has(state)) {
    if (away) return error(HOST_UNAVAILABLE, `node ${nodeId} is not ready`);
    const err = task?.Status?.Err;
    if (err && /no suitable node/.test(err)) return error('no host in the cluster can take it right now', err);
    info.state = 'creating';
    return info;
  }
  if (state === 'running' && task.DesiredState !== undefined && task.DesiredState !== 'running') {
    // Being shut down by swarm, not by the gateway: the task of a node that was away, which swarm gives up on its return.
    if (away) return error(HOST_UNAVAILABLE, `node ${nodeId} is not ready; its task was last seen running`);
    return info;
  }
  if (state === 'running') {
    if (away) return error(HOST_UNAVAILABLE, `node ${nodeId} is not ready; its task was last seen running`);
    info.state = 'running';
    const startedAt = dateOf(task.Status?.Timestamp);
    if (startedAt) info.startedAt = startedAt;
    const endpoint = endpointOf(user, task, settings);
    if (endpoint) info.endpoint = endpoint;
    return info;
  }
  const finishedAt = dateOf(task.Status?.Timestamp);
  if (finishedAt) info.finishedAt = finishedAt;
  if (away) return error(HOST_UNAVAILABLE, `node ${nodeId} is not ready; its task is ${state}`);
  if (state === 'rejected') return error('the engine could not start it', task.Status?.Err);
  if (state === 'orphaned' || state === 'remove') return error('its host lost it', task.Status?.Err);
  const outcome = outcomeOf('exited', task.Status?.ContainerStatus?.ExitCode, false, state === 'failed' ? task.Status?.Err : undefined);
  info.state = outcome.state;
  if (outcome.reason) info.reason = outcome.reason;
  if (outcome.detail) info.detail = outcome.detail;
  return info;
}
