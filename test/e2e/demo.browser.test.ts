/**
 * `npm run demo` as a newcomer meets it (issue #17), in Debian's Chromium:
 * the demo's sign-in page → VS Code's workbench → a terminal → a file
 * written there survives a stop and a wake pressed on the sign-in page.
 * Once without an engine (code-server as a local process, installed from
 * the npm registry into the cache folder the demo uses, reused by a second
 * run) and once with the engine and the real workspace image. When VS Code
 * cannot be set up the demo says why and serves the stand-in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { launchBrowser, screenshot } from '../support/browser.js';
import { cleanupInstance, dockerCli, requireEngine, uniqueInstance } from '../support/engine.js';
import { containersOf } from '../support/engine-gateway.js';
import { builtGateway } from '../support/gateway-build.js';
import { freePort } from '../support/http.js';
import { openTerminal, runInTerminal, untilWorkbench } from '../support/workbench.js';

/** The first run installs code-server (about 2 minutes here) or builds the image (several). */
const SETUP_TIMEOUT_MS = 900_000;
const PROOF = 'made-in-the-demo';

interface Demo {
  gateway: string;
  signIn: string;
  output: () => string;
  stop(): Promise<void>;
}

/** Starts `node dist/demo.js` as a person would, and waits for its banner. */
async function startDemo(env: Record<string, string | undefined>, args: string[] = []): Promise<Demo> {
  const demoJs = join(dirname(await builtGateway()), 'demo.js');
  const port = await freePort();
  const all: NodeJS.ProcessEnv = { ...process.env, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', GATEWAY_LOG_LEVEL: 'warn', ...env };
  // Unset means unset: the demo then decides by itself (an engine answers or not).
  for (const [name, value] of Object.entries(all)) if (value === undefined) delete all[name];
  const child: ChildProcess = spawn(process.execPath, [demoJs, ...args], {
    env: all,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await vi.waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`the demo exited with ${child.exitCode}:\n${output}`);
      expect(output, 'the banner').toContain('sign in:');
    },
    { timeout: SETUP_TIMEOUT_MS, interval: 500 },
  );
  return {
    gateway: `http://localhost:${port}`,
    signIn: `http://localhost:${port + 1}/`,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The state the sign-in page's list shows for `user`. */
function shownState(page: Page, user: string): Promise<string> {
  return page.locator(`tr[data-user="${user}"] .state`).innerText();
}

/**
 * The whole visit: sign in as `user` on the demo's page, land in VS Code,
 * write a file in its terminal (`fileExists` looks for it where the workspace
 * keeps its files), stop the workspace and start it again from the sign-in
 * page, and find the file in the Explorer after reloading.
 */
async function visit(browser: Browser, demo: Demo, user: string, fileExists: () => Promise<boolean>, shots: string, { asksTrust = false } = {}): Promise<void> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    // Signing in sends this tab on to the gateway; the sign-in page's list is opened in a second tab later.
    const editor = await context.newPage();
    await editor.goto(demo.signIn);
    await editor.fill('#user', user);
    await editor.click('#open');
    await untilWorkbench(editor);
    expect(new URL(editor.url()).origin).toBe(demo.gateway);
    expect(new URL(editor.url()).pathname).toBe(`/ws/${user}/`);
    // The image's code-server asks once per new folder whether to trust it (the process demo turns that off).
    if (asksTrust) {
      await editor.getByRole('button', { name: 'Yes, I trust the authors' }).click({ timeout: 90_000 });
      await editor.getByRole('dialog').waitFor({ state: 'detached', timeout: 10_000 });
    }
    await screenshot(editor, `${shots}-1-workbench`);

    await openTerminal(editor, /[$#]\s*$/m, `${shots}-2-terminal-failed`);
    await runInTerminal(editor, `echo ${PROOF} > proof.txt`, fileExists);
    await screenshot(editor, `${shots}-2-terminal`);

    // The sign-in page lists the signed-in user with the workspace's state and its buttons.
    const signIn = await context.newPage();
    await signIn.goto(demo.signIn);
    await vi.waitFor(async () => expect(await shownState(signIn, user)).toBe('running'), { timeout: 15_000, interval: 500 });
    await signIn.locator(`tr[data-user="${user}"] button[data-action="stop"]`).click();
    await vi.waitFor(async () => expect(await shownState(signIn, user)).toMatch(/^stopped/), { timeout: 60_000, interval: 500 });
    await screenshot(signIn, `${shots}-3-stopped`);
    await signIn.locator(`tr[data-user="${user}"] button[data-action="start"]`).click();
    await vi.waitFor(async () => expect(await shownState(signIn, user)).toBe('running'), { timeout: 120_000, interval: 500 });

    await editor.reload();
    await untilWorkbench(editor);
    await editor.getByRole('treeitem', { name: 'proof.txt' }).waitFor({ timeout: 60_000 });
    await screenshot(editor, `${shots}-4-woken-file-kept`);
    expect(await fileExists(), 'the file after the wake').toBe(true);
  } finally {
    await context.close();
  }
}

describe('npm run demo with real VS Code in a real browser', () => {
  let browser: Browser;
  const demos: Demo[] = [];
  const scope = uniqueInstance('e2e-demo');

  beforeAll(async () => {
    browser = await launchBrowser(['--disable-webgl']);
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all(demos.map((d) => d.stop()));
    await cleanupInstance(scope.instance);
  });

  it(
    'without an engine: code-server as a local process per user, installed once into the cache and reused',
    async () => {
      const dataRoot = mkdtempSync(join(tmpdir(), 'wg-demo-data-'));
      const env = { GATEWAY_RUNTIME: 'process', GATEWAY_DATA_ROOT: dataRoot, GATEWAY_STATE_DIR: mkdtempSync(join(tmpdir(), 'wg-demo-state-')) };
      const demo = await startDemo(env);
      demos.push(demo);
      expect(demo.output()).toContain('VS Code (code-server 4.100.3) as a local process per user');
      expect(demo.output()).toContain('NOT isolated');
      expect(demo.output()).toMatch(/idle stop: +after 3m/);
      const proof = join(dataRoot, 'alice', 'project', 'proof.txt');
      await visit(browser, demo, 'alice', async () => existsSync(proof) && readFileSync(proof, 'utf8').trim() === PROOF, 'demo-process');

      // A second run finds the install in the cache folder and does not install again.
      await demo.stop();
      const again = await startDemo(env);
      demos.push(again);
      expect(again.output()).toMatch(/reusing code-server 4\.100\.3 in /);
      expect(again.output()).not.toContain('npm install code-server');
    },
    SETUP_TIMEOUT_MS,
  );

  it(
    'with the engine: the real workspace image, one container per user',
    async () => {
      await requireEngine();
      const demo = await startDemo({
        GATEWAY_RUNTIME: undefined,
        GATEWAY_INSTANCE: scope.instance,
        GATEWAY_CONTAINER_PREFIX: scope.prefix,
        GATEWAY_NETWORK: `${scope.prefix}net`,
        GATEWAY_STATE_DIR: mkdtempSync(join(tmpdir(), 'wg-demo-state-')),
      });
      demos.push(demo);
      expect(demo.output()).toMatch(/VS Code \(code-server 4\.100\.3\) in a container of its own per user \(image apra-nova-code-server:local-/);
      const inContainer = async () => {
        const [container] = await containersOf(scope.instance, 'bea');
        if (container?.State !== 'running') return false;
        return (await dockerCli(['exec', container.Id, 'cat', '/home/coder/project/proof.txt'])).stdout.trim() === PROOF;
      };
      await visit(browser, demo, 'bea', inContainer, 'demo-docker', { asksTrust: true });
    },
    SETUP_TIMEOUT_MS,
  );

  it('says why VS Code could not be set up, and serves the stand-in instead, without a stack trace', async () => {
    const demo = await startDemo({
      GATEWAY_RUNTIME: 'process',
      // A cache folder that cannot be made: under a file.
      CODE_SERVER_CACHE: '/etc/hostname/code-server',
      GATEWAY_DATA_ROOT: mkdtempSync(join(tmpdir(), 'wg-demo-data-')),
      GATEWAY_STATE_DIR: mkdtempSync(join(tmpdir(), 'wg-demo-state-')),
    });
    demos.push(demo);
    expect(demo.output()).toContain('demo: VS Code could not be set up: cannot create /etc/hostname');
    expect(demo.output()).toContain('using the stand-in workspace instead');
    expect(demo.output()).toContain('workspaces: the stand-in workspace');
    expect(demo.output()).not.toMatch(/^\s+at /m);
  });
});
