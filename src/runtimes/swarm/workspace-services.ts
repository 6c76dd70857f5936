import type { SwarmSettings } from '../../config/settings.js';
import { SpawnFailedError } from '../../errors.js';
import type { EngineClient } from '../engine/engine-client.js';
import { statusOf } from '../engine/engine-errors.js';
import { LABEL, scopeLabels } from '../engine/labels.js';
import { serviceName } from './names.js';
import { serviceSpec, type EngineFeatures } from './service-spec.js';
import type { SwarmPicture } from './task-state.js';
import type { SwarmNode, SwarmTask, SwarmService } from './swarm-objects.js';

/** Services named in one task query; the names go into the URL. */
const TASK_QUERY_CHUNK = 100;

/** The manager's calls on users' services, tasks and the nodes: the service is the user's workspace. */
export class WorkspaceServices {
  constructor(
    private readonly client: EngineClient,
    private readonly settings: SwarmSettings,
    private readonly features: () => Promise<EngineFeatures>,
  ) {}

  /**
   * The user's service, or undefined. A service of that name that is not this
   * user's (another instance's, or a user whose hashed name collides) is
   * refused, never served.
   */
  async inspect(user: string): Promise<SwarmService | undefined> {
    const name = serviceName(this.settings, user);
    const service = (await this.client.find('inspect service', (abortSignal) => this.client.docker.getService(name).inspect({ abortSignal } as object))) as
      SwarmService | undefined;
    if (!service) return undefined;
    const labels = service.Spec?.Labels ?? {};
    if (labels[LABEL.user] !== user || labels[LABEL.instance] !== this.settings.instance) {
      throw new SpawnFailedError(`the service name ${name} is taken by another workspace`, `labels ${JSON.stringify(labels)}`);
    }
    return service;
  }

  /** Creates the user's service (replicas as given, pinned to `node` if set); false when a concurrent creator won (409). */
  async create(user: string, options: { replicas: 0 | 1; node?: string }): Promise<boolean> {
    const spec = serviceSpec(user, this.settings, { ...options, features: await this.features() });
    try {
      await this.client.call('create service', (abortSignal) => this.client.docker.createService({ ...spec, abortSignal }));
      return true;
    } catch (err) {
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  /**
   * Rewrites the service's spec from today's settings, keeping its pin unless
   * `node` moves it: replicas, a new task (`restart`, after one that ended),
   * a new image. Swarm refuses an update made against an older version (a
   * concurrent update won); it is read again and retried once.
   */
  async update(user: string, change: { replicas: 0 | 1; node?: string; restart?: boolean }): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.inspect(user);
      if (!current) throw new SpawnFailedError(`the service ${serviceName(this.settings, user)} was removed while it was updated`);
      const node = change.node ?? current.Spec?.Labels?.[LABEL.node];
      const spec = serviceSpec(user, this.settings, { replicas: change.replicas, ...(node ? { node } : {}), features: await this.features() });
      const forced = current.Spec?.TaskTemplate?.ForceUpdate ?? 0;
      spec.TaskTemplate!.ForceUpdate = change.restart ? forced + 1 : forced;
      try {
        await this.client.call('update service', (abortSignal) =>
          this.client.docker.getService(current.ID).update({ _query: { version: current.Version?.Index }, _body: spec, abortSignal }),
        );
        return;
      } catch (err) {
        const outOfSequence = statusOf(err) === 500 || statusOf(err) === 409 || statusOf(err) === 400;
        if (attempt >= 2 || !outOfSequence) throw err;
      }
    }
  }

  async remove(user: string): Promise<void> {
    const service = await this.inspect(user);
    if (service) await this.client.find('remove service', (abortSignal) => this.client.docker.getService(service.ID).remove({ abortSignal } as object));
  }

  /** Every service of this instance, in one call. */
  list(): Promise<SwarmService[]> {
    return this.client.call('list services', (abortSignal) =>
      this.client.docker.listServices({ filters: { label: scopeLabels(this.settings.instance) }, abortSignal }),
    );
  }

  /** The tasks of these services, current and the history swarm keeps. */
  async tasks(services: SwarmService[]): Promise<SwarmTask[]> {
    const all: SwarmTask[] = [];
    for (let i = 0; i < services.length; i += TASK_QUERY_CHUNK) {
      const ids = services.slice(i, i + TASK_QUERY_CHUNK).map((s) => s.ID);
      const tasks = (await this.client.call('list tasks', (abortSignal) =>
        this.client.docker.listTasks({ filters: { service: ids }, abortSignal }),
      )) as SwarmTask[];
      all.push(...tasks);
    }
    return all;
  }

  /** The tasks of these services and the nodes, read together: what their states are made of. */
  async picture(services: SwarmService[]): Promise<SwarmPicture> {
    const [tasks, nodes] = await Promise.all([this.tasks(services), this.nodes()]);
    return { tasks, nodes };
  }

  async nodes(): Promise<Map<string, SwarmNode>> {
    const nodes = (await this.client.call('list nodes', (abortSignal) => this.client.docker.listNodes({ abortSignal } as object))) as SwarmNode[];
    return new Map(nodes.map((node) => [node.ID, node]));
  }
}
