import type Docker from 'dockerode';
import type { SwarmSettings } from '../../config/settings.js';
import { GatewayError } from '../../errors.js';
import type { EngineClient } from '../engine/engine-client.js';
import { statusOf } from '../engine/engine-errors.js';
import { ownedLabels } from '../engine/labels.js';
import { networkName } from './names.js';
import { retrying } from './retrying.js';

/** How long a join answered 404 is tried again. */
const JOIN_RETRY_MS = 10_000;
/** How long removing a network waits for the removed service's task to leave it. */
const REMOVE_RETRY_MS = 20_000;

/** The gateway is not in a container the engine knows: it cannot join workspace networks. */
export class GatewayContainerError extends GatewayError {
  constructor(container: string) {
    super(
      'engine_error',
      502,
      `the swarm runtime joins the gateway's own container to each workspace's network, and the engine has no container ${container}. ` +
        'Run the gateway in a container on a manager node (deploy/stack.yaml), or name its container in GATEWAY_SWARM_GATEWAY_CONTAINER.',
    );
  }
}

/**
 * One attachable overlay network per user, joined by that user's workspace
 * and the gateway's own container only. Overlay networks have no switch to
 * keep containers on them apart (ICC), so apartness comes from each
 * workspace being alone with the gateway on its network: another workspace
 * has no address there, on this node or another.
 */
export class WorkspaceNetworks {
  /** Networks this process has joined the gateway to (a join costs a manager round trip). */
  private readonly joined = new Set<string>();

  constructor(
    private readonly client: EngineClient,
    private readonly settings: SwarmSettings,
    /** The gateway's container (id or name) on the manager's engine. */
    readonly gateway: string,
  ) {}

  /** Fails with a clear message unless the gateway's container is there to join networks. */
  async checkGateway(): Promise<void> {
    const found = await this.client.find('inspect gateway container', (abortSignal) => this.client.docker.getContainer(this.gateway).inspect({ abortSignal }));
    if (!found) throw new GatewayContainerError(this.gateway);
  }

  async create(user: string): Promise<void> {
    try {
      await this.client.call('create network', (abortSignal) =>
        this.client.docker.createNetwork({
          Name: networkName(this.settings, user),
          Driver: 'overlay',
          Attachable: true,
          CheckDuplicate: true,
          Labels: ownedLabels(this.settings.instance, { user, image: this.settings.image }),
          abortSignal,
        }),
      );
    } catch (err) {
      // 409: it exists (an earlier start, or a concurrent one).
      if (statusOf(err) !== 409) throw err;
    }
  }

  /**
   * Joins the gateway to the user's network, once per process; joining twice
   * is no error. Right after the gateway left a network its node may still be
   * tearing its local copy down and answer 404 for a moment: tried again.
   */
  async join(user: string): Promise<'joined now' | 'joined before'> {
    const name = networkName(this.settings, user);
    if (this.joined.has(name)) return 'joined before';
    try {
      await retrying(
        () =>
          this.client.call('join the gateway to a workspace network', (abortSignal) =>
            this.client.docker.getNetwork(name).connect({ Container: this.gateway, abortSignal } as Docker.NetworkConnectOptions),
          ),
        JOIN_RETRY_MS,
        [404],
      );
    } catch (err) {
      // 403 or 409: already joined (by a concurrent call, or by this container before the gateway restarted).
      if (statusOf(err) !== 403 && statusOf(err) !== 409) throw err;
      this.joined.add(name);
      return 'joined before';
    }
    this.joined.add(name);
    return 'joined now';
  }

  /**
   * Leaves the user's network; best effort. Only when the workspace is
   * removed: a stopped workspace keeps the gateway's interface, since a join
   * right after a leave races the node's own teardown of the network (a 404,
   * and an attachment task that stays and keeps the network from being removed).
   */
  private async leave(user: string): Promise<void> {
    const name = networkName(this.settings, user);
    this.joined.delete(name);
    await this.client
      .find(
        'leave a workspace network',
        (abortSignal) => this.client.docker.getNetwork(name).disconnect({ Container: this.gateway, Force: true, abortSignal } as object) as Promise<unknown>,
      )
      .catch(() => undefined);
  }

  /** Removes the user's network; a removed service's task leaves it a moment later, and until then the engine refuses. */
  async remove(user: string): Promise<void> {
    await this.leave(user);
    const name = networkName(this.settings, user);
    await retrying(() => this.client.find('remove network', (abortSignal) => this.client.docker.getNetwork(name).remove({ abortSignal })), REMOVE_RETRY_MS);
  }
}
