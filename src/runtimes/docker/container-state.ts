import type Docker from 'dockerode';
import type { DockerSettings } from '../../config/settings.js';
import type { EngineEvent } from '../engine/engine-events.js';
import { LABEL } from '../engine/labels.js';
import type { RuntimeEvent, WorkspaceInfo, WorkspaceState } from '../runtime.js';

/** What a container's state means for its owner; `detail` is the engine's own words, for the log. */
export interface Outcome {
  state: WorkspaceState;
  reason?: string;
  detail?: string;
}

/** Docker's "never happened" timestamp in StartedAt/FinishedAt. */
const ZERO_DATE_PREFIX = '0001-01-01';
const OUT_OF_MEMORY = 'out of memory (killed by the engine)';

/** Exit codes of a workspace that was asked to stop: 0, or 143 (SIGTERM, what `docker stop` sends and the editor honours). */
const stoppedOnRequest = (code: number | undefined): boolean => code === undefined || code === 0 || code === 143;

/** The seed's state table, read from the engine's container state. */
export function outcomeOf(status: string, exitCode: number | undefined, oomKilled: boolean, engineError?: string): Outcome {
  const withDetail = (outcome: Outcome): Outcome => (engineError ? { ...outcome, detail: engineError } : outcome);
  switch (status) {
    case 'running':
      return { state: 'running' };
    case 'created':
    case 'exited':
      if (oomKilled) return withDetail({ state: 'error', reason: OUT_OF_MEMORY });
      if (!stoppedOnRequest(exitCode)) return withDetail({ state: 'error', reason: `exited with code ${exitCode}` });
      // A clean exit with an engine error is a start that never happened (a mount or network it could not set up).
      return engineError ? withDetail({ state: 'error', reason: 'the engine could not start it' }) : { state: 'stopped' };
    case 'paused':
      return { state: 'error', reason: 'paused on the engine' };
    case 'removing':
      return { state: 'error', reason: 'being removed' };
    default:
      return withDetail({ state: 'error', reason: `container is ${status}` });
  }
}

function dateOf(value: string | undefined): Date | undefined {
  if (!value || value.startsWith(ZERO_DATE_PREFIX)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

type Addressing = Pick<DockerSettings, 'network' | 'workspace_port'>;

function withOutcome(info: WorkspaceInfo, { reason, detail }: Outcome): WorkspaceInfo {
  if (reason) info.reason = reason;
  if (detail) info.detail = detail;
  return info;
}

function withEndpoint(info: WorkspaceInfo, ip: string | undefined, settings: Addressing): WorkspaceInfo {
  if (info.state === 'running' && ip) info.endpoint = { host: ip, port: settings.workspace_port };
  return info;
}

/** A container's inspect answer as the workspace it is. */
export function workspaceOfContainer(user: string, c: Docker.ContainerInspectInfo, settings: Addressing): WorkspaceInfo {
  const s = c.State;
  const outcome = outcomeOf(s.Status, s.ExitCode, s.OOMKilled, s.Error || undefined);
  const info: WorkspaceInfo = { user, state: outcome.state, id: c.Id, image: c.Config.Labels?.[LABEL.image] ?? c.Config.Image };
  const createdAt = dateOf(c.Created);
  const startedAt = dateOf(s.StartedAt);
  const finishedAt = dateOf(s.FinishedAt);
  if (createdAt) info.createdAt = createdAt;
  if (startedAt) info.startedAt = startedAt;
  if (finishedAt && outcome.state !== 'running') info.finishedAt = finishedAt;
  return withEndpoint(withOutcome(info, outcome), c.NetworkSettings.Networks?.[settings.network]?.IPAddress, settings);
}

/**
 * The workspaces in one container listing. Everything comes from the list
 * output (no per-container inspect), at the price of OOM kills showing as
 * "exited with code 137" and created/started dates only in inspect.
 */
export function workspacesOfListing(containers: Docker.ContainerInfo[], settings: Addressing): WorkspaceInfo[] {
  const infos: WorkspaceInfo[] = [];
  for (const c of containers) {
    const user = c.Labels?.[LABEL.user];
    if (!user) continue;
    const exit = /^Exited \((-?\d+)\)/.exec(c.Status ?? '');
    const outcome = outcomeOf(c.State, exit ? Number(exit[1]) : undefined, false);
    const info: WorkspaceInfo = { user, state: outcome.state, id: c.Id, image: c.Labels[LABEL.image], createdAt: new Date(c.Created * 1000) };
    infos.push(withEndpoint(withOutcome(info, outcome), c.NetworkSettings?.Networks?.[settings.network]?.IPAddress, settings));
  }
  return infos;
}

/** The engine events a runtime passes on, for the container filter of the event stream. */
export const CONTAINER_EVENTS = ['die', 'stop', 'destroy', 'oom'];

/** An engine event about one of this instance's containers, as the runtime's event. */
export function runtimeEventOf(event: EngineEvent, instance: string): RuntimeEvent | undefined {
  const attributes = event.Actor?.Attributes ?? {};
  const user = attributes[LABEL.user];
  if (!user || attributes[LABEL.instance] !== instance) return undefined;
  const about = event.Actor?.ID ? { user, id: event.Actor.ID } : { user };
  switch (event.Action ?? event.status) {
    case 'die': {
      const code = Number(attributes.exitCode);
      if (stoppedOnRequest(code)) return { ...about, kind: 'stopped' };
      return { ...about, kind: 'died', reason: Number.isFinite(code) ? `exited with code ${code}` : 'exited' };
    }
    case 'stop':
      return { ...about, kind: 'stopped' };
    case 'destroy':
      return { ...about, kind: 'removed' };
    case 'oom':
      return { ...about, kind: 'died', reason: OUT_OF_MEMORY };
    default:
      return undefined;
  }
}
