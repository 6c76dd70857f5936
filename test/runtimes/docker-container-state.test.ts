import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { outcomeOf, runtimeEventOf, workspaceOfContainer, workspacesOfListing } from '../../src/runtimes/docker/container-state.js';
import { LABEL } from '../../src/runtimes/engine/labels.js';

const addressing = { network: 'wg', workspace_port: 8080 };
const labels = (user: string) => ({ [LABEL.managed]: 'true', [LABEL.instance]: 'unit', [LABEL.user]: user, [LABEL.image]: 'editor:1' });

describe('what a container state means', () => {
  it("follows the seed's state table", () => {
    expect(outcomeOf('running', 0, false)).toEqual({ state: 'running' });
    expect(outcomeOf('created', undefined, false)).toEqual({ state: 'stopped' });
    expect(outcomeOf('exited', 0, false)).toEqual({ state: 'stopped' });
    expect(outcomeOf('exited', 143, false)).toEqual({ state: 'stopped' });
    expect(outcomeOf('exited', 137, false)).toEqual({ state: 'error', reason: 'exited with code 137' });
    expect(outcomeOf('exited', 137, true)).toEqual({ state: 'error', reason: 'out of memory (killed by the engine)' });
    expect(outcomeOf('paused', 0, false)).toEqual({ state: 'error', reason: 'paused on the engine' });
    expect(outcomeOf('removing', 0, false)).toEqual({ state: 'error', reason: 'being removed' });
    expect(outcomeOf('dead', 0, false)).toEqual({ state: 'error', reason: 'container is dead' });
  });

  it("gives the owner a sentence and keeps the engine's own error for the log", () => {
    const engineWords = 'error mounting "/var/lib/docker/volumes/x/_data" to rootfs: permission denied';
    expect(outcomeOf('created', 0, false, engineWords)).toEqual({ state: 'error', reason: 'the engine could not start it', detail: engineWords });
    expect(outcomeOf('exited', 1, false, engineWords)).toEqual({ state: 'error', reason: 'exited with code 1', detail: engineWords });
    expect(outcomeOf('dead', 0, false, engineWords)).toEqual({ state: 'error', reason: 'container is dead', detail: engineWords });
  });

  it('reads an inspected container: dates, image label, and an endpoint only while running on the network', () => {
    const inspected = (status: string) =>
      ({
        Id: 'c1',
        Created: '2024-01-02T03:04:05Z',
        State: {
          Status: status,
          ExitCode: 0,
          OOMKilled: false,
          Error: '',
          Paused: false,
          StartedAt: '2024-01-02T03:04:06Z',
          FinishedAt: '0001-01-01T00:00:00Z',
        },
        Config: { Image: 'sha256:abc', Labels: labels('ann') },
        NetworkSettings: { Networks: { wg: { IPAddress: '172.20.0.5' } } },
      }) as unknown as Docker.ContainerInspectInfo;
    expect(workspaceOfContainer('ann', inspected('running'), addressing)).toEqual({
      user: 'ann',
      state: 'running',
      id: 'c1',
      image: 'editor:1',
      createdAt: new Date('2024-01-02T03:04:05Z'),
      startedAt: new Date('2024-01-02T03:04:06Z'),
      endpoint: { host: '172.20.0.5', port: 8080 },
    });
    expect(workspaceOfContainer('ann', inspected('exited'), addressing)).not.toHaveProperty('endpoint');
  });

  it('reads a listing without per-container calls, skipping containers without a user label', () => {
    const listed = [
      {
        Id: 'c1',
        Created: 1700000000,
        State: 'running',
        Status: 'Up 2 minutes',
        Labels: labels('ann'),
        NetworkSettings: { Networks: { wg: { IPAddress: '172.20.0.5' } } },
      },
      { Id: 'c2', Created: 1700000000, State: 'exited', Status: 'Exited (137) 5 seconds ago', Labels: labels('ben'), NetworkSettings: { Networks: {} } },
      { Id: 'c3', Created: 1700000000, State: 'running', Status: 'Up', Labels: {}, NetworkSettings: { Networks: {} } },
    ] as unknown as Docker.ContainerInfo[];
    expect(workspacesOfListing(listed, addressing)).toEqual([
      { user: 'ann', state: 'running', id: 'c1', image: 'editor:1', createdAt: new Date(1700000000_000), endpoint: { host: '172.20.0.5', port: 8080 } },
      { user: 'ben', state: 'error', id: 'c2', image: 'editor:1', createdAt: new Date(1700000000_000), reason: 'exited with code 137' },
    ]);
  });

  it('turns engine events of this instance into runtime events carrying the container id', () => {
    const event = (Action: string, attributes: Record<string, string> = {}) => ({
      Type: 'container',
      Action,
      Actor: { ID: 'c1', Attributes: { ...labels('ann'), ...attributes } },
    });
    expect(runtimeEventOf(event('die', { exitCode: '137' }), 'unit')).toEqual({ user: 'ann', id: 'c1', kind: 'died', reason: 'exited with code 137' });
    expect(runtimeEventOf(event('die', { exitCode: '143' }), 'unit')).toEqual({ user: 'ann', id: 'c1', kind: 'stopped' });
    expect(runtimeEventOf(event('stop'), 'unit')).toEqual({ user: 'ann', id: 'c1', kind: 'stopped' });
    expect(runtimeEventOf(event('destroy'), 'unit')).toEqual({ user: 'ann', id: 'c1', kind: 'removed' });
    expect(runtimeEventOf(event('oom'), 'unit')).toEqual({ user: 'ann', id: 'c1', kind: 'died', reason: 'out of memory (killed by the engine)' });
    expect(runtimeEventOf(event('start'), 'unit')).toBeUndefined();
    expect(runtimeEventOf(event('die'), 'another-instance')).toBeUndefined();
  });
});
