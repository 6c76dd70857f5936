import type { SettingGroup, SettingValues } from './setting.js';
import { authSettings } from './settings/auth.js';
import { dockerSettings } from './settings/docker.js';
import { gatewaySettings } from './settings/gateway.js';
import { operationSettings } from './settings/operations.js';
import { processSettings } from './settings/process.js';
import { requestSettings } from './settings/requests.js';
import { swarmSettings } from './settings/swarm.js';
import { workspaceSettings } from './settings/workspaces.js';

/**
 * Every setting, once: its YAML key (the environment name is GATEWAY_ + the
 * key in capitals), default, help line and validator. `--help`, the env and
 * YAML readers and the validation error messages are all derived from this
 * one table; the groups only say whose a setting is, and their order is the
 * order of --help.
 */
export const settings = {
  ...gatewaySettings,
  ...authSettings,
  ...requestSettings,
  ...dockerSettings,
  ...swarmSettings,
  ...workspaceSettings,
  ...operationSettings,
  ...processSettings,
} satisfies SettingGroup;

export type SettingKey = keyof typeof settings;

export const envName = (key: string): string => 'GATEWAY_' + key.toUpperCase();

/** What the docker runtime reads: its own group and the instance label that scopes what it owns. */
export type DockerSettings = SettingValues<typeof dockerSettings> & Pick<SettingValues<typeof gatewaySettings>, 'instance'>;

/** What the swarm runtime reads: the docker runtime's settings and its own. */
export type SwarmSettings = DockerSettings & SettingValues<typeof swarmSettings>;

/** What the process runtime reads. */
export type ProcessSettings = SettingValues<typeof processSettings>;
