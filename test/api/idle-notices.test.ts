import { createServer, request, type ClientRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { spokenDuration, stoppedSentence } from '../../src/api/idle-notices.js';
import { NOTICE_SCRIPT } from '../../src/api/notice-script.js';
import { gatewayInFrontOf, token, type FrontedGateway } from '../support/gateway.js';
import { call } from '../support/http.js';

/** Idle after 4 s, warned from 2 s: a sweep each second stops it by about 5 s. */
const SHORT = { GATEWAY_IDLE_TIMEOUT: '4s', GATEWAY_IDLE_WARNING: '2s' };

interface Events {
  /** Resolves with the next event's name and data (or rejects after `timeoutMs`). */
  next(timeoutMs?: number): Promise<[string, any]>;
  ended: Promise<void>;
  status: Promise<number>;
  close(): void;
}

/** A server-sent event stream read event by event. */
function events(url: string, headers: Record<string, string>): Events {
  const queue: Array<[string, any]> = [];
  const waiting: Array<(e: [string, any]) => void> = [];
  let buffer = '';
  let req: ClientRequest;
  let endedOk!: () => void;
  let statusOk!: (n: number) => void;
  const ended = new Promise<void>((ok) => (endedOk = ok));
  const status = new Promise<number>((ok) => (statusOk = ok));
  req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
    statusOk(res.statusCode ?? 0);
    res.on('data', (c: Buffer) => {
      buffer += c;
      let at: number;
      while ((at = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event) continue;
        const e: [string, any] = [event, JSON.parse(data ?? 'null')];
        const w = waiting.shift();
        if (w) w(e);
        else queue.push(e);
      }
    });
    res.on('end', () => endedOk());
    res.on('close', () => endedOk());
  });
  req.on('error', () => endedOk());
  req.end();
  return {
    next: (timeoutMs = 10_000) =>
      new Promise((ok, fail) => {
        const e = queue.shift();
        if (e) return ok(e);
        const timer = setTimeout(() => fail(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((got) => {
          clearTimeout(timer);
          ok(got);
        });
      }),
    ended,
    status,
    close: () => req.destroy(),
  };
}

describe('the idle notice: its stream, "Keep working", and what is not activity', () => {
  let gw: FrontedGateway | undefined;
  const streams: Events[] = [];
  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await gw?.close();
    gw = undefined;
  });

  async function gateway(env: Record<string, string> = SHORT, users = ['ann']) {
    gw = await gatewayInFrontOf(
      createServer((_req, res) => res.end('editor')),
      users,
      env,
    );
    return gw;
  }

  async function open(user = 'ann'): Promise<Events> {
    const s = events(`${gw!.url}/api/workspaces/${user}/notice`, { cookie: `workspace_token=${await token(user)}` });
    streams.push(s);
    return s;
  }

  async function keepWorking(user = 'ann', headers: Record<string, string> = {}) {
    // As the script's same-origin fetch sends it.
    return call(`${gw!.url}/api/workspaces/${user}/keep-working`, {
      method: 'POST',
      headers: { cookie: `workspace_token=${await token(user)}`, origin: gw!.url, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', ...headers },
    });
  }

  it('says "active" at connect, "warning" with the stop time at stop − warning, and "stopped" with the reason after the idle stop', async () => {
    await gateway();
    const touched = gw!.app.manager.get('ann')!.lastActivity!;
    const s = await open();
    expect(await s.status).toBe(200);
    expect((await s.next())[0]).toBe('active');
    const [event, data] = await s.next(5_000);
    const now = Date.now();
    expect(event).toBe('warning');
    expect(data.stopsAt).toBe(gw!.app.idlePolicy.stopsAt('ann'));
    expect(data.stopsAt).toBe(touched + 4000);
    // Warned within a timer's slack of stop − warning, not before.
    expect(now).toBeGreaterThanOrEqual(touched + 2000 - 50);
    expect(now).toBeLessThan(touched + 3000);
    expect(data.stopsInMs).toBeGreaterThan(1000);
    expect(data.stopsInMs).toBeLessThanOrEqual(2050);
    const [stopped, why] = await s.next(8_000);
    expect(stopped).toBe('stopped');
    expect(why.reason).toBe('idle');
    expect(why.message).toBe('Your workspace was stopped because nothing happened in it for 4 seconds. Your files are kept.');
    await s.ended;
    expect(gw!.app.manager.get('ann')!.state).toBe('stopped');
    expect(gw!.app.manager.get('ann')!.reason).toBe('idle');
  });

  it('"Keep working" counts as activity: the warning goes at once, in every tab, and the stop moves', async () => {
    await gateway();
    const tabs = [await open(), await open()];
    for (const tab of tabs) expect((await tab.next())[0]).toBe('active');
    for (const tab of tabs) expect((await tab.next(5_000))[0]).toBe('warning');
    const before = gw!.app.idlePolicy.stopsAt('ann')!;
    const pressed = Date.now();
    const res = await keepWorking();
    expect(res.status).toBe(200);
    const ws = gw!.app.manager.get('ann')!;
    expect(ws.lastActivityKind).toBe('keep working');
    expect(ws.lastActivity).toBeGreaterThanOrEqual(pressed);
    expect(Date.parse((await res.json()).stopsAt)).toBe(gw!.app.idlePolicy.stopsAt('ann'));
    expect(gw!.app.idlePolicy.stopsAt('ann')).toBeGreaterThan(before);
    for (const tab of tabs) {
      const [event] = await tab.next(500);
      expect(event).toBe('active');
    }
    // Past the first stop time it still runs; then, untouched again, it is warned again.
    await new Promise((r) => setTimeout(r, before - Date.now() + 1200));
    expect(gw!.app.manager.get('ann')!.state).toBe('running');
    expect((await tabs[0]!.next(3_000))[0]).toBe('warning');
  });

  it('other activity (a request into the workspace) takes the warning away within a few seconds', async () => {
    await gateway({ GATEWAY_IDLE_TIMEOUT: '8s', GATEWAY_IDLE_WARNING: '4s' });
    const s = await open();
    expect((await s.next())[0]).toBe('active');
    expect((await s.next(6_000))[0]).toBe('warning');
    const jwt = await token('ann');
    expect((await call(`${gw!.url}/ws/ann/typed`, { headers: { cookie: `workspace_token=${jwt}` } })).status).toBe(200);
    const [event] = await s.next(6_000);
    expect(event).toBe('active');
  });

  it('the script and its stream are never activity: an untouched tab with them stops on time', async () => {
    await gateway();
    const ws = gw!.app.manager.get('ann')!;
    const at = ws.lastActivity;
    const jwt = await token('ann');
    const script = await call(`${gw!.url}/api/workspaces/ann/notice.js`, { headers: { cookie: `workspace_token=${jwt}`, 'sec-fetch-dest': 'script' } });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
    expect(script.body.toString()).toBe(NOTICE_SCRIPT);
    // Reconnecting over and over, as a flaky network makes a browser do.
    for (let i = 0; i < 5; i++) {
      const s = await open();
      await s.next();
      s.close();
    }
    const s = await open();
    expect(ws.lastActivity).toBe(at);
    expect(ws.lastActivityKind).not.toBe('request');
    const seen: string[] = [];
    for (;;) {
      const [event] = await s.next(8_000);
      seen.push(event);
      if (event === 'stopped') break;
    }
    expect(seen).toEqual(['active', 'warning', 'stopped']);
    expect(Date.now() - at!).toBeGreaterThanOrEqual(4000);
    expect(ws.lastActivity).toBe(at);
  });

  it('says why for other stops (by the user, by an admin) and at once for a workspace that is not running', async () => {
    await gateway({ GATEWAY_IDLE_TIMEOUT: '1h' }, ['ann', 'bob']);
    const ann = await open('ann');
    expect((await ann.next())[0]).toBe('active');
    const jwt = await token('ann');
    expect((await call(`${gw!.url}/api/workspaces/ann/stop`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })).status).toBe(200);
    expect(await ann.next()).toEqual(['stopped', { reason: 'stopped by the user', message: stoppedSentence('stopped by the user', 3_600_000) }]);
    await ann.ended;
    // Opened on a stopped workspace: the tab hears it at once.
    const late = await open('ann');
    expect((await late.next())[1].reason).toBe('stopped by the user');
    await late.ended;

    const bob = await open('bob');
    expect((await bob.next())[0]).toBe('active');
    const admin = await token('staff', { claims: { is_staff: true } });
    expect((await call(`${gw!.url}/api/workspaces/bob/stop`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
    const [, data] = await bob.next();
    expect(data.reason).toBe('stopped by admin staff');
    expect(data.message).toBe('Your workspace was stopped by a member of staff (staff). Your files are kept.');
  });

  it('"Keep working" is the owner\'s, refuses other sites, and is 503 for a workspace that is not running', async () => {
    await gateway({ GATEWAY_IDLE_TIMEOUT: '1h' }, ['ann', 'bob']);
    expect((await keepWorking('ann', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    const other = await call(`${gw!.url}/api/workspaces/bob/keep-working`, { method: 'POST', headers: { cookie: `workspace_token=${await token('ann')}` } });
    expect(other.status).toBe(403);
    expect(gw!.app.manager.get('bob')!.lastActivityKind).not.toBe('keep working');
    const stream = await call(`${gw!.url}/api/workspaces/bob/notice`, { headers: { cookie: `workspace_token=${await token('ann')}` } });
    expect(stream.status).toBe(403);
    await gw!.app.manager.stop('ann', 'stopped by the user');
    expect((await keepWorking('ann')).status).toBe(503);
  });

  it('has no calls with GATEWAY_IDLE_WARNING=0', async () => {
    await gateway({ GATEWAY_IDLE_WARNING: '0' });
    const jwt = await token('ann');
    expect((await call(`${gw!.url}/api/workspaces/ann/notice.js`, { headers: { cookie: `workspace_token=${jwt}` } })).status).toBe(404);
  });
});

describe('what a stopped tab says', () => {
  it('names each reason in a sentence', () => {
    expect(stoppedSentence('idle', 30 * 60_000)).toBe('Your workspace was stopped because nothing happened in it for 30 minutes. Your files are kept.');
    expect(stoppedSentence('stopped to make room', 1)).toMatch(/to make room for another student's/);
    expect(stoppedSentence('exited with code 1', 1)).toBe('Your workspace stopped: exited with code 1.');
    expect(spokenDuration(66_000)).toBe('66 seconds');
    expect(spokenDuration(120_000)).toBe('2 minutes');
    expect(spokenDuration(3_600_000)).toBe('1 hour');
    expect(spokenDuration(5_400_000)).toBe('1 hour 30 minutes');
  });
});
