import type Docker from 'dockerode';
import type { SwarmSettings } from '../../config/settings.js';
import { LABEL, ownedLabels } from '../engine/labels.js';
import { PROJECT_DIR } from '../docker/names.js';
import { networkName, serviceName, volumeName } from './names.js';

/** Grace the editor gets between SIGTERM and SIGKILL, as with the docker runtime. */
export const STOP_GRACE_SECONDS = 10;

/** What the manager's engine can be asked for: `Privileges.NoNewPrivileges` exists from API 1.46 on. */
export interface EngineFeatures {
  noNewPrivileges: boolean;
}

/** The constraint that keeps a service on the node holding its volume. */
export const pinConstraint = (node: string): string => `node.id==${node}`;

/**
 * The hardened service of one user's workspace, the docker runtime's
 * container spec in swarm's words: non-root, every capability dropped but
 * those configured, memory/CPU/process limits, on the user's own overlay
 * network only, no published port (DNS round-robin, so not even a virtual IP
 * on the ingress network), no engine socket, and never restarted by swarm
 * (the gateway decides when a workspace runs; a crash is the owner's to see).
 * `node` pins it where its volume is. Pure: the engine calls are elsewhere.
 */
export function serviceSpec(user: string, settings: SwarmSettings, options: { replicas: 0 | 1; node?: string; features: EngineFeatures }): Docker.ServiceSpec {
  const labels = ownedLabels(settings.instance, { user, image: settings.image });
  const volumeLabels = { ...labels };
  if (options.node) labels[LABEL.node] = options.node;
  const driver = settings.swarm_volume_driver;
  const privileges = options.features.noNewPrivileges ? { Privileges: { NoNewPrivileges: true } as Docker.Privileges } : {};
  return {
    Name: serviceName(settings, user),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: settings.image,
        User: settings.workspace_uid,
        Env: [`WORKSPACE_USER=${user}`, `PORT=${settings.workspace_port}`],
        Labels: ownedLabels(settings.instance, { user, image: settings.image }),
        Mounts: [
          {
            Type: 'volume',
            Source: volumeName(settings, user),
            Target: PROJECT_DIR,
            // The types make DriverConfig required; the engine takes it as optional (the local driver).
            VolumeOptions: {
              NoCopy: false,
              Labels: volumeLabels,
              ...(driver ? { DriverConfig: { Name: driver, Options: {} } } : {}),
            } as Docker.MountSettings['VolumeOptions'],
          },
        ],
        CapabilityDrop: ['ALL'],
        CapabilityAdd: settings.cap_add,
        StopGracePeriod: STOP_GRACE_SECONDS * 1e9,
        ...privileges,
      },
      Resources: {
        Limits: { MemoryBytes: settings.memory_limit, NanoCPUs: Math.round(settings.cpu_limit * 1e9), Pids: settings.pids_limit },
      },
      RestartPolicy: { Condition: 'none' },
      Placement: { Constraints: options.node && !driver ? [pinConstraint(options.node)] : [] },
      Networks: [{ Target: networkName(settings, user) }],
    },
    Mode: { Replicated: { Replicas: options.replicas } },
    EndpointSpec: { Mode: 'dnsrr' },
  };
}
