import { describe, expect, it } from 'vitest';
import { containerSpec, type WorkspaceMount } from '../../src/runtimes/docker/container-spec.js';
import { LABEL } from '../../src/runtimes/engine/labels.js';
import { dockerRuntimeSettings } from '../support/engine.js';

const settings = dockerRuntimeSettings({ instance: 'unit', image: 'editor:1', cap_add: ['CHOWN'] });
const volume: WorkspaceMount = { Type: 'volume', Source: 'unit_ann_data', Target: '/home/coder/project' };
const spec = containerSpec('ann', settings, volume);
const host = spec.HostConfig!;

describe('the container spec of a workspace', () => {
  it('is named, labelled and configured for its user and image', () => {
    expect(spec.name).toBe('unit_ann');
    expect(spec.Image).toBe('editor:1');
    expect(spec.Labels).toEqual({ [LABEL.managed]: 'true', [LABEL.instance]: 'unit', [LABEL.user]: 'ann', [LABEL.image]: 'editor:1' });
    expect(spec.Env).toEqual(['WORKSPACE_USER=ann', 'PORT=8080']);
  });

  it('runs as the non-root workspace user, without capabilities or privilege gain beyond those configured', () => {
    expect(spec.User).toBe('1000:1000');
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd).toEqual(['CHOWN']);
    expect(host.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(host.Privileged).toBeUndefined();
  });

  it('has memory (no swap on top), CPU and process limits', () => {
    expect(host.Memory).toBe(256 * 1024 * 1024);
    expect(host.MemorySwap).toBe(host.Memory);
    expect(host.NanoCpus).toBe(500_000_000);
    expect(host.PidsLimit).toBe(128);
  });

  it('publishes no port, joins only the private network, and is never restarted by the engine', () => {
    expect(host.PortBindings).toEqual({});
    expect(host.PublishAllPorts).toBe(false);
    expect(spec.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(host.NetworkMode).toBe(settings.network);
    expect(spec.NetworkingConfig).toBeUndefined();
    expect(host.RestartPolicy).toEqual({ Name: 'no' });
  });

  it('mounts only the workspace data, never the engine socket', () => {
    expect(host.Mounts).toEqual([volume]);
    expect(host.Binds).toBeUndefined();
    expect(JSON.stringify(spec)).not.toContain('docker.sock');
  });

  it('mounts a host folder with storage=bind', () => {
    const bind: WorkspaceMount = { Type: 'bind', Source: '/srv/workspaces/ann', Target: '/home/coder/project' };
    expect(containerSpec('ann', { ...settings, storage: 'bind' }, bind).HostConfig!.Mounts).toEqual([bind]);
  });
});
