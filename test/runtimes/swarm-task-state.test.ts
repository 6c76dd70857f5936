import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { SwarmSettings } from '../../src/config/settings.js';
import { LABEL } from '../../src/runtimes/engine/labels.js';
import { networkName, serviceName } from '../../src/runtimes/swarm/names.js';
import { serviceSpec } from '../../src/runtimes/swarm/service-spec.js';
import type { SwarmNode, SwarmTask, SwarmService } from '../../src/runtimes/swarm/swarm-objects.js';
import { HOST_UNAVAILABLE, workspaceOfService } from '../../src/runtimes/swarm/task-state.js';
import { dockerRuntimeSettings } from '../support/engine.js';

const settings: SwarmSettings = {
  ...dockerRuntimeSettings({ instance: 'unit', container_prefix: 'workspace_' }),
  swarm_gateway_container: undefined,
  swarm_volume_driver: undefined,
  swarm_node_engines: [],
};

const service = (replicas: 0 | 1, labels: Record<string, string> = {}): SwarmService =>
  ({
    ID: 'svc1',
    CreatedAt: '2026-12-01T10:00:00Z',
    Spec: { Name: 'workspace_ann', Labels: { [LABEL.user]: 'ann', [LABEL.image]: 'img:1', ...labels }, Mode: { Replicated: { Replicas: replicas } } },
  }) as SwarmService;
const task = (id: string, state: SwarmTask['Status'], createdAt = '2026-12-01T10:00:01Z', node = 'n2'): SwarmTask => ({
  ID: id,
  ServiceID: 'svc1',
  NodeID: node,
  CreatedAt: createdAt,
  Status: state,
  NetworksAttachments: [{ Network: { Spec: { Name: 'workspace_ann_net' } }, Addresses: ['10.0.3.7/24'] }],
});
const ready: SwarmNode = { ID: 'n2', Status: { State: 'ready' }, Spec: { Availability: 'active' } };
const nodes = (node: SwarmNode | undefined): ReadonlyMap<string, SwarmNode> => new Map(node ? [['n2', node]] : []);
const workspaceOf = (user: string, svc: SwarmService, tasks: SwarmTask[], known: ReadonlyMap<string, SwarmNode>, s: SwarmSettings) =>
  workspaceOfService(user, svc, { tasks, nodes: known }, s);

describe('swarm names', () => {
  it('uses <prefix><user> where swarm takes it, and a readable name with a hash where not', () => {
    expect(serviceName(settings, 'ann')).toBe('workspace_ann');
    expect(networkName(settings, 'ann')).toBe('workspace_ann_net');
    const dotted = serviceName(settings, 'a.b');
    expect(dotted).toMatch(/^workspace_a-b-[0-9a-f]{10}$/);
    expect(serviceName(settings, 'a_b')).toBe('workspace_a_b');
    expect(serviceName(settings, 'x'.repeat(63))).toHaveLength(63);
    expect(serviceName(settings, 'ends-')).toMatch(/^workspace_ends-[0-9a-f]{10}$/);
    // Two users never share a name.
    expect(serviceName(settings, 'a.b')).not.toBe(serviceName(settings, 'a-b'));
    expect(serviceName(settings, 'x'.repeat(63))).not.toBe(serviceName(settings, 'x'.repeat(62)));
  });
});

describe('the hardened service spec', () => {
  it('runs non-root without capabilities, with limits, on its own network, no ports, never restarted by swarm', () => {
    const spec = serviceSpec('ann', settings, { replicas: 1, node: 'n2', features: { noNewPrivileges: true } });
    const template = spec.TaskTemplate as Docker.ContainerTaskSpec;
    expect(template.ContainerSpec).toMatchObject({ User: '1000:1000', CapabilityDrop: ['ALL'], Privileges: { NoNewPrivileges: true } });
    expect(template.Resources?.Limits).toEqual({ MemoryBytes: 256 * 1024 * 1024, NanoCPUs: 5e8, Pids: 128 });
    expect(template.RestartPolicy).toEqual({ Condition: 'none' });
    expect(template.Placement?.Constraints).toEqual(['node.id==n2']);
    expect(template.Networks).toEqual([{ Target: 'workspace_ann_net' }]);
    expect(spec.EndpointSpec).toEqual({ Mode: 'dnsrr' });
    expect(spec.Labels?.[LABEL.node]).toBe('n2');
    expect(JSON.stringify(spec)).not.toContain('docker.sock');
  });

  it('leaves no-new-privileges out where the engine cannot take it, and the pin out with a spanning volume driver', () => {
    const spec = serviceSpec('ann', { ...settings, swarm_volume_driver: 'rexray' }, { replicas: 0, node: 'n2', features: { noNewPrivileges: false } });
    const template = spec.TaskTemplate as Docker.ContainerTaskSpec;
    expect(template.ContainerSpec?.Privileges).toBeUndefined();
    expect(template.Placement?.Constraints).toEqual([]);
    expect(template.ContainerSpec?.Mounts?.[0]?.VolumeOptions?.DriverConfig?.Name).toBe('rexray');
  });
});

describe('a service as a workspace', () => {
  it('is running with the task address on its own network', () => {
    const info = workspaceOf('ann', service(1), [task('t1', { State: 'running' })], nodes(ready), settings);
    expect(info).toMatchObject({ state: 'running', id: 't1', endpoint: { host: '10.0.3.7', port: 8080 }, image: 'img:1' });
  });

  it('reads the newest task, not the history swarm keeps', () => {
    const tasks = [task('old', { State: 'failed', ContainerStatus: { ExitCode: 1 } }, '2026-12-01T09:00:00Z'), task('new', { State: 'running' })];
    expect(workspaceOf('ann', service(1), tasks, nodes(ready), settings)).toMatchObject({ state: 'running', id: 'new' });
  });

  it('is stopped at 0 replicas, creating while its task is on the way', () => {
    expect(workspaceOf('ann', service(0), [task('t1', { State: 'shutdown' })], nodes(ready), settings).state).toBe('stopped');
    expect(workspaceOf('ann', service(1), [task('t1', { State: 'preparing' })], nodes(ready), settings).state).toBe('creating');
    expect(workspaceOf('ann', service(1), [], nodes(ready), settings).state).toBe('creating');
  });

  it('says why it is in error: exit code, an unplaceable task, a node that is away', () => {
    const exited = workspaceOf('ann', service(1), [task('t1', { State: 'failed', ContainerStatus: { ExitCode: 137 } })], nodes(ready), settings);
    expect(exited).toMatchObject({ state: 'error', reason: 'exited with code 137' });
    const unplaceable = workspaceOf(
      'ann',
      service(1),
      [task('t1', { State: 'pending', Err: 'no suitable node (insufficient resources on 3 nodes)' })],
      nodes(ready),
      settings,
    );
    expect(unplaceable).toMatchObject({
      state: 'error',
      reason: 'no host in the cluster can take it right now',
      detail: expect.stringContaining('insufficient'),
    });
    const down: SwarmNode = { ...ready, Status: { State: 'down' } };
    expect(workspaceOf('ann', service(1), [task('t1', { State: 'running' })], nodes(down), settings)).toMatchObject({
      state: 'error',
      reason: HOST_UNAVAILABLE,
    });
    const drained: SwarmNode = { ...ready, Spec: { Availability: 'drain' } };
    expect(workspaceOf('ann', service(1), [task('t1', { State: 'running' })], nodes(drained), settings).reason).toBe(HOST_UNAVAILABLE);
    expect(workspaceOf('ann', service(1), [task('t1', { State: 'running' })], nodes(undefined), settings).reason).toBe(HOST_UNAVAILABLE);
    // Pinned to a node that is away, before any task exists.
    expect(workspaceOf('ann', service(1, { [LABEL.node]: 'n2' }), [], nodes(down), settings).reason).toBe(HOST_UNAVAILABLE);
  });

  it('reads a clean exit or SIGTERM as stopped', () => {
    expect(workspaceOf('ann', service(1), [task('t1', { State: 'complete', ContainerStatus: { ExitCode: 0 } })], nodes(ready), settings).state).toBe('stopped');
    expect(workspaceOf('ann', service(1), [task('t1', { State: 'failed', ContainerStatus: { ExitCode: 143 } })], nodes(ready), settings).state).toBe('stopped');
  });
});

describe('the tasks of a node that was away', () => {
  it('reads a task swarm is shutting down (desired shutdown) as not running, and orders tasks by their full creation time', () => {
    const given = { ...task('t1', { State: 'running' }), DesiredState: 'shutdown' as const };
    expect(workspaceOf('ann', service(1), [given], nodes(ready), settings)).toMatchObject({ state: 'stopped' });
    const older = task('older', { State: 'failed', ContainerStatus: { ExitCode: 1 } }, '2026-12-01T10:00:01.5Z');
    const newer = task('newer', { State: 'running' }, '2026-12-01T10:00:01.51Z');
    expect(workspaceOf('ann', service(1), [newer, older], nodes(ready), settings).id).toBe('newer');
  });
});
