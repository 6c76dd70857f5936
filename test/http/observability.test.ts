import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { openWebSocket, pageLoad, scriptRequest, SECRET, startGateway, token, type TestGateway } from '../support/gateway.js';
import { call, visit } from '../support/http.js';

describe('logs and metrics', () => {
  let gw: TestGateway;
  const lines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    gw = await startGateway({ GATEWAY_PROXY_TIMEOUT: '1s' }, undefined, createLogger('debug', sink));
  });
  afterAll(() => gw?.close());

  it('logs JSON lines with the request id and the user, and never a token or the secret', async () => {
    const jwt = await token('logan');
    const expired = await token('logan', { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const res = await visit(`${gw.url}/ws/logan/__echo`, { headers: pageLoad(jwt, { 'x-request-id': 'req-abc-12345' }) });
    expect(res.status).toBe(200);
    // The request id travels to the workspace too.
    expect((await res.json()).headers['x-request-id']).toBe('req-abc-12345');
    await visit(`${gw.url}/ws/other/`, { headers: pageLoad(jwt) });
    await call(`${gw.url}/ws/logan/`, { headers: { authorization: `Bearer ${expired}`, accept: 'application/json' } });
    await call(`${gw.url}/ws/logan/`, { headers: { cookie: `workspace_token=${jwt}.tampered`, accept: 'application/json' } });
    await call(`${gw.url}/ws/logan/__slow?ms=3000`, { headers: scriptRequest(jwt) });
    await new Promise((r) => setTimeout(r, 100));

    const records = lines.map((l) => JSON.parse(l));
    const proxied = records.find((r) => r.reqId === 'req-abc-12345');
    expect(proxied).toMatchObject({ user: 'logan', status: 200, path: '/ws/logan/__echo' });
    expect(records.find((r) => r.status === 403)).toMatchObject({ user: 'logan', reqId: expect.any(String) });
    expect(records.find((r) => r.status === 504)).toMatchObject({ user: 'logan' });
    const all = lines.join('\n');
    for (const secret of [jwt, expired, jwt.split('.')[2]!, SECRET]) expect(all).not.toContain(secret);
  });

  it('exposes Prometheus metrics', async () => {
    const jwt = await token('metric');
    await visit(`${gw.url}/ws/metric/`, { headers: pageLoad(jwt) });
    const { socket } = await openWebSocket(`${gw.wsUrl}/ws/metric/socket`, { cookie: `workspace_token=${jwt}` });
    const res = await call(`${gw.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    socket!.close();
    expect(text).toMatch(/^workspace_gateway_workspaces\{state="running"\} [1-9]/m);
    expect(text).toMatch(/^workspace_gateway_spawns_total\{outcome="ok"\} [1-9]/m);
    expect(text).toMatch(/^workspace_gateway_spawn_duration_seconds_count [1-9]/m);
    expect(text).toMatch(/^workspace_gateway_proxied_requests_total [1-9]/m);
    expect(text).toMatch(/^workspace_gateway_open_websockets 1$/m);
    expect(text).toMatch(/^workspace_gateway_upstream_errors_total\{kind="timeout"\} 1$/m);
    expect(text).toContain('workspace_gateway_idle_stops_total');
  });
});
