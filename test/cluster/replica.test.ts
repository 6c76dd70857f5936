import { describe, expect, it } from 'vitest';
import type { ToLeader } from '../../src/cluster/messages.js';
import { WorkspaceReplica } from '../../src/cluster/replica.js';

describe("a worker's copy of the workspace endpoints", () => {
  it('knows only what the leader told it, and forgets a refused endpoint at once, telling the leader', () => {
    const sent: ToLeader[] = [];
    const replica = new WorkspaceReplica((m) => sent.push(m), 60_000);
    replica.replaceAll([
      ['ann', { host: '10.0.0.2', port: 8080 }],
      ['ben', { host: '10.0.0.3', port: 8080 }],
    ]);
    expect(replica.endpointOf('ann')).toEqual({ host: '10.0.0.2', port: 8080 });
    replica.set('ann', undefined);
    expect(replica.endpointOf('ann')).toBeUndefined();
    replica.unreachable('ben');
    expect(replica.endpointOf('ben')).toBeUndefined();
    expect(sent).toEqual([{ type: 'unreachable', user: 'ben' }]);
    replica.replaceAll([['cid', { socketPath: '/run/cid.sock' }]]);
    expect(replica.endpointOf('ann')).toBeUndefined();
    expect(replica.endpointOf('cid')).toEqual({ socketPath: '/run/cid.sock' });
    replica.close();
  });

  it('sends activity in batches, the latest per user, and nothing when there was none', () => {
    const sent: ToLeader[] = [];
    const replica = new WorkspaceReplica((m) => sent.push(m), 60_000);
    replica.flush();
    expect(sent).toEqual([]);
    replica.touch('ann', 'request');
    replica.touch('ben', 'request');
    replica.touch('ann', 'websocket');
    replica.flush();
    expect(sent).toHaveLength(1);
    const batch = sent[0] as Extract<ToLeader, { type: 'activity' }>;
    expect(batch.entries.map(([user, , kind]) => [user, kind])).toEqual([
      ['ann', 'websocket'],
      ['ben', 'request'],
    ]);
    for (const [, at] of batch.entries) expect(Math.abs(Date.now() - at)).toBeLessThan(1000);
    replica.flush();
    expect(sent).toHaveLength(1);
    replica.close();
  });
});
