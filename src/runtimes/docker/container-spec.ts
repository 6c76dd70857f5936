import type Docker from 'dockerode';
import type { DockerSettings } from '../../config/settings.js';
import { ownedLabels } from '../engine/labels.js';
import { containerName } from './names.js';

/** Where the user's files come from: their named volume, or their folder on the host. */
export interface WorkspaceMount {
  Type: 'volume' | 'bind';
  Source: string;
  Target: string;
}

/**
 * The hardened container of one user's workspace: non-root, every
 * capability dropped but those configured, no privilege gain, memory (no
 * swap on top), CPU and process limits, on the private network only, no
 * published port, no engine socket, never restarted by the engine (the
 * gateway decides when a workspace runs). Pure: the engine call is elsewhere.
 */
export function containerSpec(user: string, settings: DockerSettings, mount: WorkspaceMount): Docker.ContainerCreateOptions {
  return {
    name: containerName(settings, user),
    Image: settings.image,
    User: settings.workspace_uid,
    Env: [`WORKSPACE_USER=${user}`, `PORT=${settings.workspace_port}`],
    Labels: ownedLabels(settings.instance, { user, image: settings.image }),
    ExposedPorts: { [`${settings.workspace_port}/tcp`]: {} },
    HostConfig: {
      Memory: settings.memory_limit,
      // Same as Memory: no swap on top, so the limit means what it says.
      MemorySwap: settings.memory_limit,
      NanoCpus: Math.round(settings.cpu_limit * 1e9),
      PidsLimit: settings.pids_limit,
      CapDrop: ['ALL'],
      CapAdd: settings.cap_add,
      SecurityOpt: ['no-new-privileges:true'],
      Mounts: [mount],
      NetworkMode: settings.network,
      RestartPolicy: { Name: 'no' },
      PortBindings: {},
      PublishAllPorts: false,
    },
  };
}
