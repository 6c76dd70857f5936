import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWebSocket, startGateway, token, type TestGateway } from '../support/gateway.js';
import { visit } from '../support/http.js';
import { pageLoad } from '../support/gateway.js';

describe('WebSockets and token expiry', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ GATEWAY_WS_TOKEN_GRACE: '1s', GATEWAY_JWT_CLOCK_TOLERANCE: '0s' });
  });
  afterAll(() => gw?.close());

  it('closes a socket with 1008 once the token it was opened with expires (after the grace)', async () => {
    const long = await token('tess');
    expect((await visit(`${gw.url}/ws/tess/`, { headers: pageLoad(long) })).status).toBe(200);
    const short = await token('tess', { expiresIn: Math.floor(Date.now() / 1000) + 2 });
    const opened = Date.now();
    const { socket } = await openWebSocket(`${gw.wsUrl}/ws/tess/socket`, { cookie: `workspace_token=${short}` });
    const other = (await openWebSocket(`${gw.wsUrl}/ws/tess/socket`, { cookie: `workspace_token=${long}` })).socket!;
    const close = await new Promise<{ code: number; reason: string }>((resolve) =>
      socket!.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    expect(close).toEqual({ code: 1008, reason: 'token expired' });
    // Expiry at the next whole second after +2 s, plus 1 s of grace.
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - opened).toBeLessThan(5000);
    // A socket opened with a valid token carries on.
    expect(other.readyState).toBe(other.OPEN);
    other.close();
  });
});
