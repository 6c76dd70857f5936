/**
 * The whole path with the real editor: headless Chromium → gateway → a
 * code-server container (`apra-nova-code-server`, built locally by
 * images/workspace/build-local.sh) on the engine. Slow by nature (minutes);
 * it fails, never skips, when the image cannot be built or the engine is away.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cleanupInstance, dockerCli, requireEngine, uniqueInstance, type UniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { launchBrowser, screenshot } from '../support/browser.js';
import { startGateway, token, type TestGateway } from '../support/gateway.js';
import { call, freePort } from '../support/http.js';
import { openTerminal, runInTerminal, untilWorkbench } from '../support/workbench.js';
import { countingRelay, type CountingRelay } from '../support/byte-count.js';
import { startLms, type Lms } from '../support/lms.js';

const BUILD_SCRIPT = fileURLToPath(new URL('../../images/workspace/build-local.sh', import.meta.url));
const PROJECT = '/home/coder/project';
/** bash's prompt in the image's project folder. */
const BASH_PROMPT = /coder@[^\s]+:~\/project\$/;
/**
 * Longer than the 62 s quiet gap between the untouched tab's latency-ping
 * bursts (5 pings 2 s apart every 70 s): were those pings counted, the
 * untouched workspace would never stop, so this test would catch it.
 */
const IDLE_TIMEOUT_S = 66;
/** The idle notice shows this long before the stop (from 26 s after the last activity). */
const IDLE_WARNING_S = 40;

const main = uniqueInstance('e2e-code-server');
const idle = uniqueInstance('e2e-idle');
const bytes = uniqueInstance('e2e-bytes');

/** Builds (or reuses, ~1 s) the code-server image; resolves with its tag. */
function codeServerImage(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [BUILD_SCRIPT], { timeout: 900_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`images/workspace/build-local.sh failed: ${err.message}\n${String(stderr).slice(-4000)}`));
      const tag = String(stdout).trim().split('\n').pop();
      if (!tag) return reject(new Error(`build-local.sh printed no tag\n${stderr}`));
      resolve(tag);
    });
  });
}

/** Settings code-server needs beyond the small test defaults (it is a real editor with a terminal). */
function codeServerEnv(scope: UniqueInstance, image: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...dockerEnv(scope, image), GATEWAY_MEMORY_LIMIT: '1g', GATEWAY_PIDS_LIMIT: '512', GATEWAY_SPAWN_TIMEOUT: '90s', ...extra };
}

async function containerOf(scope: UniqueInstance, user: string) {
  const list = await containersOf(scope.instance, user);
  expect(list, `containers of ${user}`).toHaveLength(1);
  return list[0]!;
}

/** The engine's view of a container can trail the gateway's event by a moment. */
async function untilContainerState(scope: UniqueInstance, user: string, state: string): Promise<void> {
  await vi.waitFor(async () => expect((await containerOf(scope, user)).State, `${user}'s container`).toBe(state), { timeout: 15_000, interval: 250 });
}

async function execIn(containerId: string, script: string) {
  return dockerCli(['exec', containerId, 'bash', '-c', script]);
}

interface Student {
  user: string;
  /** The LMS access token it started with (short-lived when it came from the LMS). */
  jwt: string;
  /** Launched through the real LMS: the gateway session, not the token, carries it. */
  viaLms: boolean;
  context: BrowserContext;
  page: Page;
  /** URLs of every WebSocket the page opened. */
  sockets: string[];
  /** How many of them have closed. */
  closed: () => number;
  /** `Sec-WebSocket-Extensions` of each WebSocket handshake answer the browser got ('' for none). */
  extensions: string[];
}

describe('real VS Code (code-server) through the gateway in a real browser', () => {
  let browser: Browser;
  let image: string;
  const gateways: TestGateway[] = [];
  const contexts: BrowserContext[] = [];
  /** The real LMS (Django + SimpleJWT, 60 s access tokens) on its own origin; the first gateway's port is chosen first, for its page. */
  let lms: Lms;
  let gatewayPort: number;

  beforeAll(async () => {
    const t0 = Date.now();
    await requireEngine();
    image = await codeServerImage();
    gatewayPort = await freePort();
    lms = await startLms({ algorithm: 'HS256', accessLifetimeSeconds: 60, gatewayUrl: `http://127.0.0.1:${gatewayPort}` });
    // WebGL off: the editor's terminal then draws with its DOM renderer (its fallback), so the test can read the prompt and command output from the page.
    browser = await launchBrowser(['--disable-webgl']);
    console.log(`beforeAll ${Date.now() - t0} ms (image ${image})`);
  }, 900_000);
  afterAll(async () => {
    const t0 = Date.now();
    const took: string[] = [];
    const step = async (name: string, work: () => Promise<unknown>) => {
      const t = Date.now();
      await work();
      took.push(`${name} ${Date.now() - t} ms`);
    };
    await step('contexts', () => Promise.all(contexts.map((c) => c.close().catch(() => {}))));
    await step('browser', async () => browser?.close());
    await step('gateways', () => Promise.all(gateways.map((g) => g.close())));
    await step('lms', async () => lms?.stop());
    await step('cleanup', async () => {
      await cleanupInstance(main.instance);
      await cleanupInstance(idle.instance);
      await cleanupInstance(bytes.instance);
    });
    console.log(`afterAll ${Date.now() - t0} ms: ${took.join(', ')}`);
  });

  /** A student whose browser holds a token cookie made by the test (for the second gateway, with the test's key). */
  async function student(gw: TestGateway, user: string): Promise<Student> {
    const jwt = await token(user);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    await context.addCookies([{ name: 'workspace_token', value: jwt, url: gw.url, httpOnly: true, sameSite: 'Lax' }]);
    return watched({ user, jwt, viaLms: false, context, page: await context.newPage() });
  }

  /**
   * A student as in production: signs in on the real LMS page, presses
   * "Launch Workspace", and works in the tab the launch link opened; the
   * browser never had a cookie from the test.
   */
  async function launchedStudent(name: string): Promise<Student> {
    const account = lms.users.find((u) => u.name === name)!;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const lmsPage = await context.newPage();
    await lmsPage.goto(lms.url);
    await lmsPage.fill('#username', account.name);
    await lmsPage.fill('#password', account.password);
    await lmsPage.click('#signin');
    await lmsPage.locator('#status', { hasText: `signed in as ${name}` }).waitFor({ timeout: 10_000 });
    const opened = context.waitForEvent('page', { timeout: 30_000 });
    await lmsPage.click('#launch');
    const page = await opened;
    const answer = JSON.parse((await lmsPage.locator('#result').textContent()) ?? '{}') as { url: string; workspace_url: string };
    expect(answer.url).toMatch(/\/api\/launch\/[A-Za-z0-9_-]+$/);
    const { access } = await lms.token(account.name, account.password);
    return watched({ user: String(account.id), jwt: access, viaLms: true, context, page });
  }

  async function watched(s: Omit<Student, 'sockets' | 'closed' | 'extensions'>): Promise<Student> {
    const { context, page } = s;
    const sockets: string[] = [];
    let closed = 0;
    page.on('websocket', (ws) => {
      sockets.push(ws.url());
      ws.on('close', () => closed++);
    });
    const extensions: string[] = [];
    const cdp = await context.newCDPSession(page);
    cdp.on('Network.webSocketHandshakeResponseReceived', ({ response }) => {
      const name = Object.keys(response.headers).find((h) => h.toLowerCase() === 'sec-websocket-extensions');
      extensions.push(name ? String(response.headers[name]) : '');
    });
    await cdp.send('Network.enable');
    return { ...s, sockets, closed: () => closed, extensions };
  }

  /** Waits for the workbench in the tab the launch link opened. */
  async function untilStudentWorkbench(gw: TestGateway, s: Student): Promise<void> {
    await untilWorkbench(s.page);
    const url = new URL(s.page.url());
    expect(`${url.origin}${url.pathname}`).toBe(`${gw.url}/ws/${s.user}/`);
  }

  /** Opens /ws/me and waits for the workbench; returns whether the starting page was shown first. */
  async function openWorkspace(gw: TestGateway, s: Student): Promise<{ starting: boolean }> {
    const response = await s.page.goto(`${gw.url}/ws/me`);
    const starting = response?.headers()['x-workspace-status'] === 'starting';
    await untilWorkbench(s.page);
    const url = new URL(s.page.url());
    expect(`${url.origin}${url.pathname}`).toBe(`${gw.url}/ws/${s.user}/`);
    return { starting };
  }

  /**
   * Answers code-server's "Do you trust the authors of the files in this folder?"
   * as a student would. It is modal and comes once per new folder, up to tens of
   * seconds after the workbench shows (when the connection to the server is up),
   * so a first visit waits for it; the answer is remembered for the folder.
   */
  async function trustFolder(page: Page, { firstVisit }: { firstVisit: boolean }): Promise<void> {
    const yes = page.getByRole('button', { name: 'Yes, I trust the authors' });
    if (
      await yes.waitFor({ timeout: firstVisit ? 90_000 : 3_000 }).then(
        () => true,
        () => false,
      )
    )
      await yes.click();
    else if (firstVisit) throw new Error('the workspace trust dialog never showed');
    await page
      .getByRole('dialog')
      .waitFor({ state: 'detached', timeout: 10_000 })
      .catch(() => {});
  }

  async function api(gw: TestGateway, s: Student, method: string, path: string) {
    // A launched student's LMS token has long expired by now: the session cookie speaks for them.
    const session = (await s.context.cookies(gw.url)).find((c) => c.name === 'workspace_session');
    const headers: Record<string, string> = s.viaLms ? { cookie: `workspace_session=${session?.value}` } : { authorization: `Bearer ${s.jwt}` };
    const res = await call(`${gw.url}/api/workspaces/me${path}`, { method, headers });
    return { status: res.status, body: await res.json() };
  }

  /**
   * Uncaught errors on a page, and the console errors that would be the idle
   * notice's: its script or stream named, or a CSP / Trusted Types refusal.
   */
  function problemsOf(page: Page): { pageErrors: string[]; notice: string[] } {
    const found = { pageErrors: [] as string[], notice: [] as string[] };
    page.on('pageerror', (err) => found.pageErrors.push(err.stack ?? String(err)));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = `${message.text()} (${message.location().url})`;
      if (/notice\.js|\/notice\b|keep-working|Content Security Policy|TrustedHTML|TrustedScript|Trusted Type/i.test(text)) found.notice.push(text);
    });
    return found;
  }

  /** The idle notice's box in a tab (in its open shadow root, which Playwright's locators enter). */
  function idleNotice(page: Page) {
    return page.getByRole('alert').filter({ hasText: 'because nothing happened in it' });
  }

  let alice: Student;
  let aliceContainer: string;
  let gw: TestGateway;

  it('A: a student lands in VS Code in their own container, writes a file in the terminal, and finds it again after stop and wake', async () => {
    const fromLms = { GATEWAY_PORT: String(gatewayPort), GATEWAY_JWT_SECRET: lms.secret!, GATEWAY_LMS_ORIGINS: lms.url, GATEWAY_JWT_CLOCK_TOLERANCE: '0s' };
    gw = await startGateway(codeServerEnv(main, image, fromLms));
    gateways.push(gw);
    alice = await launchedStudent('alice');
    await untilStudentWorkbench(gw, alice);
    await trustFolder(alice.page, { firstVisit: true });
    await screenshot(alice.page, 'e2e-a1-workbench');

    // Her own container, from the code-server image, on the private network.
    const container = await containerOf(main, alice.user);
    aliceContainer = container.Id;
    expect(container.State).toBe('running');
    expect(container.Image).toBe(image);
    // Every WebSocket the editor opened goes to the gateway, under her workspace path.
    await vi.waitFor(() => expect(alice.sockets.length, 'editor WebSockets').toBeGreaterThan(0), { timeout: 30_000, interval: 500 });
    for (const url of alice.sockets) expect(url.startsWith(`${gw.wsUrl}/ws/${alice.user}/`), url).toBe(true);

    await openTerminal(alice.page, BASH_PROMPT, 'e2e-a2-terminal-failed');
    await screenshot(alice.page, 'e2e-a2-terminal');
    await runInTerminal(alice.page, `echo hello-from-A > ${PROJECT}/proof.txt && echo written-$((40+2))`, (screen) => /written-42/.test(screen));
    await screenshot(alice.page, 'e2e-a3-file-written');
    const cat = await execIn(aliceContainer, `cat ${PROJECT}/proof.txt`);
    expect(cat.stdout.trim()).toBe('hello-from-A');

    // Stop through the API: the container stops, the open editor loses its connection.
    const stopped = await api(gw, alice, 'POST', '/stop');
    expect(stopped.status).toBe(200);
    expect(stopped.body.state).toBe('stopped');
    await untilContainerState(main, alice.user, 'exited');
    // The editor's WebSockets are closed (reconnecting gets 503 and does not wake the workspace).
    await vi.waitFor(() => expect(alice.closed(), 'closed editor WebSockets').toBe(alice.sockets.length), { timeout: 20_000, interval: 500 });
    await screenshot(alice.page, 'e2e-a4-stopped');

    // Opening /ws/me again wakes the same container (starting page, then the workbench) with the file still there.
    const again = await openWorkspace(gw, alice);
    expect(again.starting).toBe(true);
    await trustFolder(alice.page, { firstVisit: false });
    const woken = await containerOf(main, alice.user);
    expect(woken.Id).toBe(aliceContainer);
    expect(woken.State).toBe('running');
    await alice.page.getByRole('treeitem', { name: 'proof.txt' }).waitFor({ timeout: 30_000 });
    await openTerminal(alice.page, BASH_PROMPT, 'e2e-a5-terminal-failed');
    await runInTerminal(alice.page, `cat ${PROJECT}/proof.txt`, (screen) => /^hello-from-A\s*$/m.test(screen));
    await screenshot(alice.page, 'e2e-a5-woken-file-kept');
    expect(alice.sockets.every((url) => url.startsWith(`${gw.wsUrl}/ws/${alice.user}/`))).toBe(true);
  }, 300_000);

  it("B: another student gets their own empty workspace and never sees the first student's file", async () => {
    expect(aliceContainer, 'test A ran first').toBeTruthy();
    const bob = await launchedStudent('bob');
    await untilStudentWorkbench(gw, bob);
    await trustFolder(bob.page, { firstVisit: true });
    await screenshot(bob.page, 'e2e-b1-own-workspace');
    const container = await containerOf(main, bob.user);
    expect(container.Id).not.toBe(aliceContainer);
    expect((await execIn(container.Id, `ls -A ${PROJECT}`)).stdout.trim()).toBe('');
    expect((await execIn(container.Id, `test -e ${PROJECT}/proof.txt`)).code).not.toBe(0);
    expect(await bob.page.getByRole('treeitem', { name: 'proof.txt' }).count()).toBe(0);
    for (const url of bob.sockets) expect(url.startsWith(`${gw.wsUrl}/ws/${bob.user}/`), url).toBe(true);
    // Alice's workspace URL is refused to Bob's cookie.
    const refused = await bob.page.goto(`${gw.url}/ws/${alice.user}/`);
    expect(refused?.status()).toBe(403);
    await screenshot(bob.page, 'e2e-b2-alice-refused');
    // Alice's file is still only in Alice's container.
    expect((await execIn(aliceContainer, `cat ${PROJECT}/proof.txt`)).stdout.trim()).toBe('hello-from-A');
  }, 180_000);

  it('C: an untouched open editor tab is warned, then lets the workspace stop after the idle timeout and offers a start; "Keep working" and typing keep it running', async () => {
    const idleGw = await startGateway(codeServerEnv(idle, image, { GATEWAY_IDLE_TIMEOUT: `${IDLE_TIMEOUT_S}s`, GATEWAY_IDLE_WARNING: `${IDLE_WARNING_S}s` }));
    gateways.push(idleGw);
    const untouched = await student(idleGw, 'ivy');
    const typist = await student(idleGw, 'tom');
    // Kim touches nothing either, until the notice asks her: she presses "Keep working".
    const keeper = await student(idleGw, 'kim');
    const problems = [untouched, typist, keeper].map((s) => ({ user: s.user, ...problemsOf(s.page) }));
    // Tom's workspace is started through the API and given a file before his page loads,
    // so the Explorer lists it at once (no wait for the file watcher).
    const started = await api(idleGw, typist, 'POST', '/start');
    expect(started.status).toBe(200);
    expect((await execIn((await containerOf(idle, 'tom')).Id, `echo notes > ${PROJECT}/notes.txt`)).code).toBe(0);
    const workbenchCsp = untouched.page.waitForResponse(
      (r) => new URL(r.url()).pathname === '/ws/ivy/' && new URL(r.url()).searchParams.has('folder') && r.headers()['x-workspace-status'] === undefined,
      { timeout: 120_000 },
    );
    await Promise.all([openWorkspace(idleGw, untouched), openWorkspace(idleGw, typist), openWorkspace(idleGw, keeper)]);
    const loaded = Date.now();
    await screenshot(untouched.page, 'e2e-c1-untouched-open');

    // The workbench page carries the gateway's one script tag; code-server's own CSP allows it as same-origin.
    const csp = (await workbenchCsp).headers()['content-security-policy'] ?? '';
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).toMatch(/connect-src 'self'/);
    const page = await untouched.page.evaluate(() => ({
      tags: [...document.querySelectorAll('script[src]')].map((s) => s.getAttribute('src')).filter((src) => src?.endsWith('/notice.js')),
      metaCsp: [...document.querySelectorAll('meta[http-equiv="Content-Security-Policy" i]')].map((m) => m.getAttribute('content')),
    }));
    expect(page.tags).toEqual(['/api/workspaces/ivy/notice.js']);
    console.log(`workbench CSP header: ${csp}\nworkbench CSP meta: ${JSON.stringify(page.metaCsp)}`);
    // The editor's WebSockets are compressed end to end; the browser compresses each message on
    // its own (the gateway said so), so the idle rule below reads their uncompressed sizes.
    await vi.waitFor(() => expect(untouched.extensions.length, 'editor WebSocket handshakes').toBeGreaterThanOrEqual(2), { timeout: 30_000, interval: 500 });
    expect(untouched.extensions, 'WebSocket compression through the gateway').toEqual(
      untouched.extensions.map(() => 'permessage-deflate; client_no_context_takeover'),
    );

    // Tom trusts the folder, opens his file and types into it every few seconds (auto-save is on).
    await trustFolder(typist.page, { firstVisit: true });
    await typist.page.getByRole('treeitem', { name: 'notes.txt' }).dblclick({ timeout: 30_000 });
    const editor = typist.page.locator('.editor-instance .monaco-editor .view-lines').first();
    await editor.waitFor({ timeout: 30_000 });
    await editor.click();
    let typing = true;
    let typed = 0;
    const typingStarted = Date.now();
    const typingLoop = (async () => {
      while (typing) {
        await typist.page.keyboard.type('x');
        typed++;
        await new Promise((r) => setTimeout(r, 3_000));
      }
    })();

    try {
      // The untouched tabs are warned before the stop: 40 s before it, 26 s after their last activity
      // (which their own start-up traffic, and VS Code's window-inactive message, may move).
      const untilWarned = async (s: Student): Promise<number> => {
        await idleNotice(s.page)
          .waitFor({ timeout: 3 * IDLE_TIMEOUT_S * 1000 })
          .catch((err: Error) => {
            const ws = idleGw.app.manager.get(s.user);
            const ago = Math.round((Date.now() - (ws?.lastActivity ?? 0)) / 1000);
            throw new Error(`${s.user}: no idle notice (${ws?.state}, last activity ${ws?.lastActivityKind} ${ago} s ago): ${err.message}`);
          });
        const stopsAt = idleGw.app.idlePolicy.stopsAt(s.user)!;
        expect(Date.now(), `${s.user} warned at stop − warning, not before`).toBeGreaterThanOrEqual(stopsAt - IDLE_WARNING_S * 1000 - 1500);
        expect(Date.now(), `${s.user} warned before the stop`).toBeLessThan(stopsAt);
        return Date.now() - loaded;
      };
      const warned = await untilWarned(untouched);
      expect(await idleNotice(untouched.page).textContent()).toMatch(/Your workspace stops in \d+ seconds because nothing happened in it\./);
      await screenshot(untouched.page, 'e2e-c2-untouched-warned');
      const ivyRunning = (await api(idleGw, untouched, 'GET', '')).body;
      expect(ivyRunning.state, 'warned before the stop').toBe('running');

      // Kim presses "Keep working": the call counts as activity, the notice goes.
      await untilWarned(keeper);
      const kimStopsAt = idleGw.app.idlePolicy.stopsAt('kim')!;
      const pressed = keeper.page.waitForResponse((r) => r.url().endsWith('/api/workspaces/kim/keep-working'));
      await keeper.page.getByRole('button', { name: 'Keep working' }).click();
      expect((await pressed).status()).toBe(200);
      await idleNotice(keeper.page).waitFor({ state: 'detached', timeout: 5_000 });
      expect(idleGw.app.idlePolicy.stopsAt('kim')!).toBeGreaterThan(kimStopsAt + 10_000);

      // Ivy touches nothing: her open tab keeps sending keep-alives, acks and latency pings, which must not count.
      const ivy = await vi.waitFor(
        async () => {
          const { body } = await api(idleGw, untouched, 'GET', '');
          expect(body.state, 'the untouched workspace').not.toBe('running');
          return body;
        },
        { timeout: 4 * IDLE_TIMEOUT_S * 1000, interval: 1_000 },
      );
      const stoppedAfter = Date.now() - loaded;
      // On time: at the first sweep after her last activity + the idle timeout (her tab's own
      // startup traffic and VS Code's one window-inactive message count; the notice's requests do not).
      const ivyRecord = idleGw.app.manager.get('ivy')!;
      const late = ivyRecord.stoppedAt! - (ivyRecord.lastActivity! + IDLE_TIMEOUT_S * 1000);
      expect(late, 'ms after the idle stop time').toBeGreaterThanOrEqual(0);
      expect(late, 'ms after the idle stop time').toBeLessThanOrEqual(idleGw.app.idlePolicy.sweepEveryMs + 3_000);
      expect(ivy.state).toBe('stopped');
      expect(ivy.reason).toBe('idle');
      expect(stoppedAfter).toBeGreaterThanOrEqual(IDLE_TIMEOUT_S * 1000);
      await untilContainerState(idle, 'ivy', 'exited');

      // Her tab says so and why, over VS Code's reconnecting, with a button that starts it again.
      const veil = untouched.page.getByRole('alertdialog', { name: 'Your workspace stopped' });
      await veil.waitFor({ timeout: 10_000 });
      expect(await veil.textContent()).toContain(`Your workspace was stopped because nothing happened in it for ${IDLE_TIMEOUT_S} seconds.`);
      expect(await idleNotice(untouched.page).count()).toBe(0);
      await screenshot(untouched.page, 'e2e-c3-untouched-stopped');

      // Kim's workspace was due in the same sweep; pressing the button kept it running past that.
      const pastKimsStop = kimStopsAt + idleGw.app.idlePolicy.sweepEveryMs + 2_000 - Date.now();
      if (pastKimsStop > 0) await new Promise((r) => setTimeout(r, pastKimsStop));
      expect((await api(idleGw, keeper, 'GET', '')).body.state, 'kept working past the stop time').toBe('running');
      // (Untouched since, she is being warned again by now: her new stop time is 66 s after the press.)
      await screenshot(keeper.page, 'e2e-c4-kept-working');

      // The start button is a page load: the starting page, then the workbench again.
      const reloaded = untouched.page.waitForResponse((r) => new URL(r.url()).pathname === '/ws/ivy/' && r.request().isNavigationRequest(), {
        timeout: 30_000,
      });
      await untouched.page.getByRole('button', { name: 'Start my workspace again' }).click();
      expect((await reloaded).headers()['x-workspace-status']).toBe('starting');
      await untouched.page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ timeout: 120_000 });
      expect((await api(idleGw, untouched, 'GET', '')).body.state).toBe('running');
      await screenshot(untouched.page, 'e2e-c5-untouched-started-again');

      // Tom has been typing all along, for at least twice the idle timeout, and his workspace runs.
      const left = 2 * IDLE_TIMEOUT_S * 1000 - (Date.now() - typingStarted);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
      const tom = (await api(idleGw, typist, 'GET', '')).body;
      expect(tom.state).toBe('running');
      expect(tom.lastActivityKind).toBe('websocket');
      expect(Date.now() - Date.parse(tom.lastActivity)).toBeLessThan(10_000);
      expect((await containerOf(idle, 'tom')).State).toBe('running');
      expect(typed).toBeGreaterThanOrEqual(Math.floor((2 * IDLE_TIMEOUT_S) / 3) - 1);
      await screenshot(typist.page, 'e2e-c6-typist-running');
      // Typing never let a notice come up in Tom's tab.
      expect(await typist.page.locator('[data-workspace-gateway]').count()).toBe(0);
      for (const p of problems) {
        expect(p.notice, `${p.user}: console errors from the notice, CSP or Trusted Types`).toEqual([]);
        expect(p.pageErrors, `${p.user}: uncaught errors on the workbench`).toEqual([]);
      }
      console.log(
        `idle test: untouched tabs warned ${Math.round(warned / 1000)} s after load (warning ${IDLE_WARNING_S} s), stopped ${Math.round(stoppedAfter / 1000)} s after load, ${(late / 1000).toFixed(1)} s after its last activity + ${IDLE_TIMEOUT_S} s; typist typed ${typed} keys over ${Math.round((Date.now() - typingStarted) / 1000)} s and still runs`,
      );
    } finally {
      typing = false;
      await typingLoop.catch(() => {});
    }
  }, 420_000);

  it('D: a workbench load through the gateway moves about the bytes of a direct one, both compressed', async () => {
    // The same running workspace, loaded by a fresh browser (no cache) through the gateway and
    // straight from code-server; each on a relay that counts the bytes on the wire both ways.
    // Its own gateway, which takes the test's tokens (the first one takes only the LMS's).
    const bytesGw = await startGateway(codeServerEnv(bytes, image));
    gateways.push(bytesGw);
    const dana = await student(bytesGw, 'dana');
    expect((await api(bytesGw, dana, 'POST', '/start')).status).toBe(200);
    const endpoint = bytesGw.app.manager.get('dana')?.endpoint;
    if (!endpoint || !('host' in endpoint)) throw new Error(`dana's workspace has no TCP endpoint: ${JSON.stringify(endpoint)}`);
    const throughGateway = await countingRelay({ host: '127.0.0.1', port: bytesGw.port });
    const direct = await countingRelay(endpoint);
    const jwt = await token('dana');
    const load = async (relay: CountingRelay, url: string, label: string) => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      contexts.push(context);
      await context.addCookies([{ name: 'workspace_token', value: jwt, url: `http://127.0.0.1:${relay.port}`, httpOnly: true, sameSite: 'Lax' }]);
      const page = await context.newPage();
      const s = await watched({ user: 'dana', jwt, viaLms: false, context, page });
      relay.reset();
      await page.goto(url);
      await untilWorkbench(page);
      // Settled: nothing more for 5 s in a row (the editor's own timers send a few bytes every 5 s).
      let last = -1;
      await vi.waitFor(
        async () => {
          const { down, up } = relay.counts();
          const now = down + up;
          const settled = now - last < 2_000;
          last = now;
          if (!settled) await new Promise((r) => setTimeout(r, 5_000));
          expect(settled, `${label}: still loading`).toBe(true);
        },
        { timeout: 120_000, interval: 0 },
      );
      const counted = relay.counts();
      await screenshot(page, `e2e-d-${label}`);
      await context.close();
      return { ...counted, extensions: s.extensions };
    };
    try {
      // A first load warms code-server (its extension host, the folder's trust) so both measured loads find it the same.
      await load(throughGateway, `http://127.0.0.1:${throughGateway.port}/ws/dana/`, 'warm-up');
      const plain = await load(direct, `http://127.0.0.1:${direct.port}/`, 'direct');
      const gateway = await load(throughGateway, `http://127.0.0.1:${throughGateway.port}/ws/dana/`, 'gateway');
      const mb = (n: number) => (n / 1e6).toFixed(2);
      const ratio = (gateway.down + gateway.up) / (plain.down + plain.up);
      console.log(
        `workbench load bytes: gateway ${mb(gateway.down + gateway.up)} MB (down ${mb(gateway.down)}, up ${mb(gateway.up)}), ` +
          `direct ${mb(plain.down + plain.up)} MB (down ${mb(plain.down)}, up ${mb(plain.up)}), gateway/direct ${ratio.toFixed(3)}`,
      );
      for (const extensions of [plain.extensions, gateway.extensions]) {
        expect(extensions.length).toBeGreaterThanOrEqual(2);
        for (const e of extensions) expect(e).toMatch(/^permessage-deflate/);
      }
      expect(gateway.extensions.every((e) => e.includes('client_no_context_takeover'))).toBe(true);
      expect(ratio, 'bytes through the gateway against direct').toBeLessThanOrEqual(1.05);
    } finally {
      await throughGateway.close();
      await direct.close();
    }
  }, 420_000);
});
