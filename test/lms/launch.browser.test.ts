/**
 * The hand-off from the LMS (SPEC section 2a) in a real browser, against the
 * real test LMS (Django + SimpleJWT) and the in-process gateway with the
 * process runtime (the bundled demo workspace):
 *
 * - one site: LMS (RS256) and gateway behind the nginx edge, one origin;
 * - two sites: LMS (HS256) at http://127.0.0.1:<port>, gateway at
 *   http://localhost:<port> allowing the LMS origin (GATEWAY_LMS_ORIGINS).
 *
 * A student signs in on the LMS page and clicks Launch; the popup opens the
 * workspace through the one-time launch link. The short LMS access token then
 * expires: the gateway session, not the token, keeps the WebSocket and page
 * loads going. The launch link works once, in that browser only; the session
 * cookie is HttpOnly; logout ends the session and closes its WebSockets.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot } from '../support/browser.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { freePort } from '../support/http.js';
import { startLms, type Lms } from '../support/lms.js';
import { startEdge, type Edge } from '../support/nginx.js';

/** The LMS access token's lifetime: short, so the test can outlive it. */
const LIFETIME_S = 8;
const TEST_TIMEOUT = 90_000;

interface Deployment {
  lms: Lms;
  /** Where the browser opens the LMS page. */
  lmsPage: string;
  /** The origin the workspace (and the launch link) is served from. */
  gatewayOrigin: string;
  stop(): Promise<void>;
}

async function oneSite(): Promise<Deployment> {
  const lms = await startLms({ algorithm: 'RS256', accessLifetimeSeconds: LIFETIME_S });
  let gw: TestGateway | undefined;
  let edge: Edge | undefined;
  try {
    gw = await startGateway({
      GATEWAY_JWT_SECRET: '',
      GATEWAY_JWT_PUBLIC_KEY: lms.publicKeyPem!,
      GATEWAY_JWT_ALGORITHMS: 'RS256',
      GATEWAY_SESSION_SECRET: 'launch-test-session-secret-0123456789abcdef',
    });
    edge = await startEdge({ gatewayUrl: gw.url, lmsUrl: lms.url });
  } catch (error) {
    await gw?.close();
    await lms.stop();
    throw error;
  }
  const [g, e] = [gw, edge];
  return {
    lms,
    lmsPage: e.url + '/',
    gatewayOrigin: e.url,
    stop: async () => {
      await e.stop();
      await g.close();
      await lms.stop();
    },
  };
}

async function twoSites(): Promise<Deployment> {
  const gwPort = await freePort();
  const gatewayOrigin = `http://localhost:${gwPort}`;
  const lms = await startLms({ algorithm: 'HS256', accessLifetimeSeconds: LIFETIME_S, gatewayUrl: gatewayOrigin });
  let gw: TestGateway;
  try {
    gw = await startGateway({
      GATEWAY_PORT: String(gwPort),
      GATEWAY_JWT_SECRET: lms.secret!,
      GATEWAY_LMS_ORIGINS: lms.url,
    });
  } catch (error) {
    await lms.stop();
    throw error;
  }
  return {
    lms,
    lmsPage: lms.url + '/',
    gatewayOrigin,
    stop: async () => {
      await gw.close();
      await lms.stop();
    },
  };
}

/** Opens a WebSocket from the page's own JS, kept on window.__ws; its close event lands in window.__closed. */
function openPageSocket(page: Page, url: string): Promise<void> {
  return page.evaluate(
    (url) =>
      new Promise<void>((ok, fail) => {
        const ws = new WebSocket(url);
        const w = window as unknown as { __ws: WebSocket; __closed: { code: number; reason: string } | null };
        w.__ws = ws;
        w.__closed = null;
        ws.addEventListener('close', (e) => (w.__closed = { code: e.code, reason: e.reason }));
        ws.onopen = () => ok();
        ws.onerror = () => fail(new Error(`WebSocket to ${url} failed`));
      }),
    url,
  );
}

/** Sends one message on window.__ws and resolves with the first message back (or a timeout note). */
function echo(page: Page, message: string): Promise<string> {
  return page.evaluate(
    (message) =>
      new Promise<string>((ok) => {
        const ws = (window as unknown as { __ws: WebSocket }).__ws;
        const timer = setTimeout(() => ok('<no answer within 5 s>'), 5000);
        ws.addEventListener(
          'message',
          (e) => {
            clearTimeout(timer);
            ok(String(e.data));
          },
          { once: true },
        );
        ws.send(message);
      }),
    message,
  );
}

const socketState = (page: Page) => page.evaluate(() => (window as unknown as { __ws: WebSocket }).__ws.readyState);
const closedWith = (page: Page) => page.evaluate(() => (window as unknown as { __closed: { code: number; reason: string } | null }).__closed);

describe.each([
  ['one site behind the nginx edge (RS256)', oneSite],
  ['two sites, gateway allowing the LMS origin (HS256)', twoSites],
] as const)('launching from the LMS: %s', (name, deploy) => {
  let browser: Browser;
  let deployment: Deployment;
  let context: BrowserContext;
  let lmsPage: Page;
  let popup: Page;
  let answer: { url: string; workspace_url: string; status: string };
  let launchedAt: number;
  let aliceId: number;
  const shot = (suffix: string) => `launch-${name.startsWith('one') ? 'one-site' : 'two-sites'}-${suffix}`;

  beforeAll(async () => {
    deployment = await deploy();
    aliceId = deployment.lms.users.find((u) => u.name === 'alice')!.id;
    browser = await launchBrowser();
    context = await browser.newContext();
  });
  afterAll(async () => {
    await browser?.close();
    await deployment?.stop();
  });

  it(
    'signs in on the LMS, and Launch opens the workspace in a popup without a sign-in',
    async () => {
      const alice = deployment.lms.users.find((u) => u.name === 'alice')!;
      lmsPage = await context.newPage();
      await lmsPage.goto(deployment.lmsPage);
      await lmsPage.fill('#username', alice.name);
      await lmsPage.fill('#password', alice.password);
      await lmsPage.click('#signin');
      await lmsPage.locator('#status', { hasText: 'signed in as alice' }).waitFor({ timeout: 10_000 });

      const launches: { status: number; location?: string }[] = [];
      context.on('response', (res) => {
        if (new URL(res.url()).pathname.startsWith('/api/launch/')) launches.push({ status: res.status(), location: res.headers()['location'] });
      });
      const popupOpened = context.waitForEvent('page', { timeout: 20_000 });
      launchedAt = Date.now();
      await lmsPage.click('#launch');
      await lmsPage.waitForFunction(() => document.getElementById('result')!.textContent !== '', undefined, { timeout: 20_000 });
      const result = (await lmsPage.locator('#result').textContent())!;
      expect(result).not.toContain('Failed to fetch');
      answer = JSON.parse(result);
      expect(answer.url).toMatch(new RegExp(`^${deployment.gatewayOrigin}/api/launch/[^/?#]+$`));
      expect(answer.workspace_url).toBe(`${deployment.gatewayOrigin}/ws/${aliceId}/`);
      // The LMS token is never in a URL (a JWT starts with eyJ, base64 of '{"').
      expect(answer.url).not.toMatch(/eyJ/);

      popup = await popupOpened;
      await popup.locator('#workspace').waitFor({ timeout: 30_000 });
      expect(popup.url()).toBe(answer.workspace_url);
      // The launch link answered a redirect to the stable workspace address.
      expect(launches[0]?.status).toBe(303);
      expect(new URL(launches[0]!.location!, answer.url).href).toBe(answer.workspace_url);
      expect(await popup.locator('#workspace').textContent()).toBe(`Workspace of ${aliceId}`);
      await screenshot(popup, shot('1-workspace'));
    },
    TEST_TIMEOUT,
  );

  it(
    'keeps the session cookie away from page JS',
    async () => {
      expect(await popup.evaluate(() => document.cookie)).not.toContain('workspace_session');
      const cookies = await context.cookies(deployment.gatewayOrigin);
      const session = cookies.find((c) => c.name === 'workspace_session');
      expect(session, JSON.stringify(cookies)).toBeDefined();
      expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
      // The LMS token itself is never left as a gateway cookie.
      expect(cookies.map((c) => c.name)).not.toContain('workspace_token');
    },
    TEST_TIMEOUT,
  );

  it(
    'refuses the used launch link in another browser: the 400 page, no workspace, no session',
    async () => {
      const stranger = await browser.newContext();
      try {
        const page = await stranger.newPage();
        const res = await page.goto(answer.url);
        expect(res!.status()).toBe(400);
        expect(await page.title()).toContain('This link cannot open a workspace');
        expect(await page.content()).toContain('launch_invalid');
        expect(await page.locator('#workspace').count()).toBe(0);
        expect((await stranger.cookies()).map((c) => c.name)).not.toContain('workspace_session');
        // And that browser has no way in without a session of its own.
        const ws = await page.goto(answer.workspace_url);
        expect(ws!.status()).toBe(401);
        expect(await page.title()).toContain('Please sign in');
        // A forged code is refused the same way.
        const forged = await page.goto(answer.url.replace(/[^/]+$/, 'forged-code-0123456789'));
        expect(forged!.status()).toBe(400);
        expect(await page.title()).toContain('This link cannot open a workspace');
      } finally {
        await stranger.close();
      }
      // Nor twice in the same browser.
      const again = await context.newPage();
      const res = await again.goto(answer.url);
      expect(res!.status()).toBe(400);
      expect(await again.title()).toContain('This link cannot open a workspace');
      await again.close();
    },
    TEST_TIMEOUT,
  );

  it(
    'outlives the LMS access token: the WebSocket stays open and echoes, page loads still work',
    async () => {
      const wsUrl = `${deployment.gatewayOrigin.replace(/^http/, 'ws')}/ws/${aliceId}/socket`;
      await openPageSocket(popup, wsUrl);
      expect(await echo(popup, 'before expiry')).toBe('before expiry');

      // The token the LMS page sent was issued at the latest when Launch was clicked.
      const wait = launchedAt + (LIFETIME_S + 4) * 1000 - Date.now();
      if (wait > 0) await popup.waitForTimeout(Math.min(wait, 20_000));
      // The LMS page refreshes its token; close it so nothing of the LMS is active any more.
      await lmsPage.close();

      expect(await socketState(popup)).toBe(1); // OPEN
      expect(await closedWith(popup)).toBeNull();
      expect(await echo(popup, 'after expiry')).toBe('after expiry');

      // A page load in another tab of the same browser (the popup keeps its socket).
      const tab = await context.newPage();
      await tab.goto(answer.workspace_url);
      await tab.locator('#workspace').waitFor({ timeout: 15_000 });
      await tab.reload();
      await tab.locator('#workspace').waitFor({ timeout: 15_000 });
      expect(await tab.locator('#workspace').textContent()).toBe(`Workspace of ${aliceId}`);
      await screenshot(tab, shot('2-after-expiry'));
      await tab.close();
      expect(await socketState(popup)).toBe(1);
    },
    TEST_TIMEOUT,
  );

  it(
    'signs out: the WebSocket closes with 1008 and a reload asks to sign in',
    async () => {
      const out = await popup.evaluate(async () => {
        const res = await fetch('/api/logout', { method: 'POST' });
        return { status: res.status, body: await res.text() };
      });
      expect(out.status).toBe(200);
      expect(JSON.parse(out.body)).toMatchObject({ signedOut: true });

      await popup.waitForFunction(() => (window as unknown as { __closed: unknown }).__closed !== null, undefined, { timeout: 10_000 });
      expect(await closedWith(popup)).toMatchObject({ code: 1008 });
      expect((await context.cookies(deployment.gatewayOrigin)).map((c) => c.name)).not.toContain('workspace_session');

      const res = await popup.reload();
      expect(res!.status()).toBe(401);
      expect(await popup.title()).toContain('Please sign in');
      expect(await popup.locator('#workspace').count()).toBe(0);
      await screenshot(popup, shot('3-signed-out'));
    },
    TEST_TIMEOUT,
  );
});
