import { describe, expect, it } from 'vitest';
import type { WorkspaceInfo } from '../../src/runtimes/runtime.js';
import { applyInfo, becameReady, beginSpawn, markDown, outcomeOfEvent, spawnFailed, unknownWorkspace, type Workspace } from '../../src/workspaces/workspace.js';

const endpoint = { host: '127.0.0.1', port: 8080 };
const runningInfo: WorkspaceInfo = { user: 'ana', state: 'running', id: 'c1', endpoint, startedAt: new Date(1000) };

function running(): Workspace {
  const ws = unknownWorkspace('ana');
  becameReady(ws, runningInfo, 5000);
  return ws;
}

describe("the seed's state table", () => {
  it('absent → creating → running: ready, confirmed, active since the start', () => {
    const ws = unknownWorkspace('ana');
    expect(ws).toMatchObject({ state: 'absent', confirmed: false });
    beginSpawn(ws);
    expect(ws.state).toBe('creating');
    becameReady(ws, runningInfo, 5000);
    expect(ws).toMatchObject({ state: 'running', confirmed: true, id: 'c1', endpoint, lastActivity: 5000, lastActivityKind: 'start' });
  });

  it('running → stopped: the endpoint goes, the stop time and reason are kept, and it says where it listened', () => {
    const ws = running();
    expect(markDown(ws, 'stopped', 'idle', 9000)).toEqual({ endpoint });
    expect(ws).toMatchObject({ state: 'stopped', reason: 'idle', stoppedAt: 9000, endpoint: undefined });
    // Already down: nothing to close, and the first stop time stays.
    expect(markDown(ws, 'stopped', 'api', 9500)).toBeUndefined();
    expect(ws.stoppedAt).toBe(9000);
  });

  it('stopped → running (a wake passes through creating); the stop time is cleared', () => {
    const ws = running();
    markDown(ws, 'stopped', 'idle', 9000);
    beginSpawn(ws);
    expect(ws.state).toBe('creating');
    becameReady(ws, { ...runningInfo, id: 'c2' }, 12_000);
    expect(ws).toMatchObject({ state: 'running', id: 'c2', stoppedAt: undefined, lastActivity: 12_000 });
  });

  it('creating → error: a failed spawn leaves the reason and an unconfirmed state', () => {
    const ws = unknownWorkspace('ana');
    beginSpawn(ws);
    spawnFailed(ws, 'The workspace could not be started: no such image');
    expect(ws).toMatchObject({ state: 'error', reason: 'The workspace could not be started: no such image', confirmed: false });
  });

  it('a failed spawn keeps what the engine reported meanwhile', () => {
    const ws = unknownWorkspace('ana');
    beginSpawn(ws);
    applyInfo(ws, { user: 'ana', state: 'stopped', reason: 'exited with code 1' });
    spawnFailed(ws, 'The workspace could not be started: exited with code 1');
    expect(ws).toMatchObject({ state: 'stopped', reason: 'exited with code 1' });
  });

  it('running → error: a crash event, unconfirmed so the engine is asked for the whole reason', () => {
    const ws = running();
    expect(outcomeOfEvent(ws, { kind: 'died', user: 'ana', id: 'c1', reason: 'exited with code 137' })).toEqual({
      state: 'error',
      reason: 'exited with code 137',
      confirmed: false,
    });
  });

  it('error → creating: a retry', () => {
    const ws = running();
    markDown(ws, 'error', 'exited with code 137', 9000);
    beginSpawn(ws);
    expect(ws.state).toBe('creating');
  });

  it('stopped/error → removed (absent)', () => {
    for (const state of ['stopped', 'error'] as const) {
      const ws = running();
      markDown(ws, state, 'idle', 9000);
      expect(markDown(ws, 'absent', 'removed', 10_000)).toBeUndefined();
      expect(ws).toMatchObject({ state: 'absent', reason: 'removed', stoppedAt: 9000 });
    }
  });

  it("the engine's picture wins: a listed stop time, the reason, no endpoint unless running", () => {
    const ws = running();
    applyInfo(ws, { user: 'ana', state: 'stopped', id: 'c1', finishedAt: new Date(7000), reason: 'exited with code 0' });
    expect(ws).toMatchObject({ state: 'stopped', stoppedAt: 7000, endpoint: undefined, reason: 'exited with code 0', startedAt: new Date(1000) });
  });
});

describe('what an engine event changes', () => {
  it('a stop from outside: stopped and confirmed; a removal: absent', () => {
    expect(outcomeOfEvent(running(), { kind: 'stopped', user: 'ana', id: 'c1' })).toEqual({ state: 'stopped', reason: 'stopped', confirmed: true });
    const stopped = running();
    markDown(stopped, 'stopped', 'idle', 9000);
    expect(outcomeOfEvent(stopped, { kind: 'removed', user: 'ana' })).toEqual({ state: 'absent', reason: 'removed', confirmed: true });
  });

  it("the gateway's own stop keeps its reason, even when the engine reports a kill", () => {
    const ws = running();
    ws.stopping = 'idle';
    expect(outcomeOfEvent(ws, { kind: 'died', user: 'ana', id: 'c1', reason: 'exited with code 137' })).toEqual({
      state: 'stopped',
      reason: 'idle',
      confirmed: true,
    });
  });

  it('nothing changes during a spawn, for a replaced instance, or for a workspace already down', () => {
    const spawning = running();
    spawning.pending = new Promise(() => {});
    expect(outcomeOfEvent(spawning, { kind: 'died', user: 'ana', id: 'c1' })).toBeUndefined();
    expect(outcomeOfEvent(running(), { kind: 'died', user: 'ana', id: 'c0' })).toBeUndefined();
    const down = running();
    markDown(down, 'stopped', 'idle', 9000);
    expect(outcomeOfEvent(down, { kind: 'stopped', user: 'ana', id: 'c1' })).toBeUndefined();
  });
});
