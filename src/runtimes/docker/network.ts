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
/** Checks in flight in this process, by network name: gateways (or tests) sharing a process make one network, not two. */
const inFlight = new Map<string, Promise<void>>();

export function ensureIsolatedNetwork(client: EngineClient, settings: Pick<DockerSettings, 'network' | 'instance'>, logger: Logger): Promise<void> {
  let check = inFlight.get(settings.network);
  if (!check) {
    check = checkOrCreate(client, settings, logger).finally(() => inFlight.delete(settings.network));
    inFlight.set(settings.network, check);
  }
  return check;
}

async function checkOrCreate(client: EngineClient, settings: Pick<DockerSettings, 'network' | 'instance'>, logger: Logger): Promise<void> {
  const { network } = settings;
  // By listing, not by name: two gateways starting at once can both create it (the engine's duplicate
  // check is not atomic), and a name that matches two networks cannot be inspected at all.
  const named = async () =>
    (await client.call('list networks', () => client.docker.listNetworks({ filters: { name: [network] } })))
      .filter((n) => n.Name === network)
      .sort((a, b) => a.Created.localeCompare(b.Created));
  let found = await named();
  if (found.length === 0) {
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
    found = await named();
  }
  const [info, ...twins] = found;
  if (!info) throw new Error(`network ${network} vanished right after it was created`);
  // Created twice in the same instant: the oldest stays, the others are removed while still empty.
  for (const twin of twins) {
    await client
      .call('remove network', () => client.docker.getNetwork(twin.Id).remove())
      .catch((err: unknown) => logger.warn({ network, err }, 'could not remove a second network of the same name'));
  }
  if (info.Driver !== 'bridge' || info.Options?.[ICC_OPTION] !== 'false') throw new UnsafeNetworkError(network, info);
}
