import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { DockerSettings } from '../../config/settings.js';
import { GatewayError } from '../../errors.js';
import type { EngineClient } from '../engine/engine-client.js';
import { statusOf } from '../engine/engine-errors.js';
import { ownedLabels } from '../engine/labels.js';

const ICC_OPTION = 'com.docker.network.bridge.enable_icc';

/** The workspace network lets containers reach each other: workspaces must not start there. */
export class UnsafeNetworkError extends GatewayError {
  constructor(network: string, info: Docker.NetworkInspectInfo) {
    super(
      'engine_error',
      502,
      `network ${network} lets containers reach each other (driver ${info.Driver}, ${ICC_OPTION}=${info.Options?.[ICC_OPTION] ?? 'unset'}); ` +
        `workspaces must not run there. Remove it (docker network rm ${network}) so the gateway creates it, ` +
        `or create it with: docker network create -o ${ICC_OPTION}=false ${network}`,
    );
  }
}

/**
 * Makes sure the workspace network exists as a bridge whose containers
 * cannot reach each other (ICC off): the editors run with --auth none, so on
 * a network where containers reach each other any student could open a
 * neighbour's editor. Creates it when missing; refuses one that is unsafe.
 */
export async function ensureIsolatedNetwork(client: EngineClient, settings: Pick<DockerSettings, 'network' | 'instance'>, logger: Logger): Promise<void> {
  const { network } = settings;
  const inspect = () => client.find('inspect network', () => client.docker.getNetwork(network).inspect() as Promise<Docker.NetworkInspectInfo>);
  let info = await inspect();
  if (!info) {
    try {
      await client.call('create network', (abortSignal) =>
        client.docker.createNetwork({
          Name: network,
          Driver: 'bridge',
          CheckDuplicate: true,
          Options: { [ICC_OPTION]: 'false' },
          Labels: ownedLabels(settings.instance),
          abortSignal,
        }),
      );
      logger.info({ network }, 'created the workspace network (container-to-container traffic off)');
    } catch (err) {
      // 409: another gateway (or a parallel prepare) created it first; check theirs below.
      if (statusOf(err) !== 409) throw err;
    }
    info = await inspect();
    if (!info) throw new Error(`network ${network} vanished right after it was created`);
  }
  if (info.Driver !== 'bridge' || info.Options?.[ICC_OPTION] !== 'false') throw new UnsafeNetworkError(network, info);
}
