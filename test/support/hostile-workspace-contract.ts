/**
 * What a student's own workspace can answer must never take the gateway
 * down or leak into anyone's answers (issue #11, findings 1 and 2). Run on
 * the process runtime and once on the real engine: the demo workspace's
 * `/__raw` answers with whatever bytes the request scripts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beforeDeadline } from '../../src/deadline.js';
import { pageLoad, scriptRequest, token, type TestGateway } from './gateway.js';
import { rawAnswerPath, type RawPlan } from './hostile-answer.js';
import { call, visit } from './http.js';

/** Every answer comes within the proxy timeout (3 s), so a hang is a failure that says which request. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return beforeDeadline(promise, 8000, () => {
    throw new Error(`no answer within 8 s: ${what}`);
  });
}

export function hostileWorkspaceContract(name: string, start: () => Promise<TestGateway>): void {
  describe(`hostile workspace answers (${name})`, () => {
    let gw: TestGateway;
    let mallory: string;
    let alice: string;

    beforeAll(async () => {
      gw = await start();
      [mallory, alice] = await Promise.all([token('mallory'), token('alice')]);
      for (const [user, jwt] of [
        ['mallory', mallory],
        ['alice', alice],
      ] as const) {
        expect((await visit(`${gw.url}/ws/${user}/`, { headers: pageLoad(jwt) })).status).toBe(200);
      }
    });
    afterAll(() => gw?.close());

    const hostile = (plan: RawPlan) =>
      within(call(`${gw.url}/ws/mallory${rawAnswerPath(plan)}`, { headers: scriptRequest(mallory) }), `mallory's ${JSON.stringify(plan)}`);

    /** Alice's workspace answers her, with her own data, whatever mallory's did. */
    async function aliceIsServed(): Promise<void> {
      const res = await call(`${gw.url}/ws/alice/__echo?probe=1`, { headers: scriptRequest(alice) });
      expect(res.status).toBe(200);
      expect((await res.json()).user).toBe('alice');
    }

    it.each(['099 X', '000 Zero', '600 Too Far', '999 Nine'])('answers status %s with 502 and keeps serving', async (status) => {
      const res = await hostile({ pieces: [`HTTP/1.1 ${status}\r\nContent-Length: 2\r\n\r\nok`] });
      expect(res.status).toBe(502);
      expect((await res.json()).error).toBe('upstream_error');
      await aliceIsServed();
    });

    it('answers a 101 to a plain request, and a storm of 1xx, with 502', async () => {
      expect((await hostile({ pieces: ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n'] })).status).toBe(502);
      expect((await hostile({ pieces: ['HTTP/1.1 103 Early Hints\r\n\r\n'.repeat(100)] })).status).toBe(502);
      await aliceIsServed();
    });

    it('never lets bytes after a complete answer become the next answer (nor a retry after a head went out)', async () => {
      const leftovers: RawPlan[] = [
        // A complete answer, then the start of an unasked-for chunked one, on a connection kept alive
        // (in one write: bytes that come later cannot be told from an answer to the next request).
        { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'] },
        // Extra body bytes beyond the Content-Length.
        { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA-BYTES'] },
        // A 204 with a body.
        { pieces: ['HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged'] },
        // The leftover arrives a moment later, while the connection sits idle in the pool.
        { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged'], gapMs: 30 },
      ];
      for (const plan of leftovers) {
        const first = await hostile(plan);
        expect([200, 204]).toContain(first.status);
        // Long after the workspace's late bytes came (on a loaded machine its timer fires late too).
        if (plan.gapMs) await new Promise((r) => setTimeout(r, 500));
        // The next requests on mallory's pool get real answers of her workspace, never the leftovers.
        for (let i = 0; i < 3; i++) {
          const next = await within(
            call(`${gw.url}/ws/mallory/__echo?after=${i}`, { headers: scriptRequest(mallory) }),
            `echo ${i} after ${JSON.stringify(plan)}`,
          );
          expect(next.status).toBe(200);
          const body = await next.json();
          expect(body.user).toBe('mallory');
          expect(body.url).toBe(`/__echo?after=${i}`);
        }
      }
      await aliceIsServed();
    });

    it('breaks off an answer cut short, and sends a GET once more only when nothing was answered yet', async () => {
      // Head out, body short, then a reset: the client sees a broken answer, and the gateway lives.
      await expect(hostile({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'], after: 'reset' })).rejects.toThrow();
      // A head that breaks off half-way: no answer went out, but bytes came, so no retry: 502.
      expect((await hostile({ pieces: ['HTTP/1.1 200 OK\r\nContent-Le'], after: 'close' })).status).toBe(502);
      expect((await hostile({ pieces: ['not http at all\r\n\r\n'], after: 'keep' })).status).toBe(502);
      await aliceIsServed();
    });
  });
}
