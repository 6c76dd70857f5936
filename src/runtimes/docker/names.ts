import { join } from 'node:path';
import type { DockerSettings } from '../../config/settings.js';

/** Where the workspace's data lives inside the container. */
export const PROJECT_DIR = '/home/coder/project';

export const containerName = (settings: Pick<DockerSettings, 'container_prefix'>, user: string): string => `${settings.container_prefix}${user}`;

export const volumeName = (settings: Pick<DockerSettings, 'container_prefix'>, user: string): string => `${settings.container_prefix}${user}_data`;

/** With storage=bind; assumes the gateway sees bind_root at the same path as the engine's host. */
export const bindFolder = (settings: Pick<DockerSettings, 'bind_root'>, user: string): string => join(settings.bind_root, user);
