import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupInstance, dockerCli, requireEngine, slowDemoImage, uniqueInstance } from '../support/engine.js';
import { containersOf, dockerEnv } from '../support/engine-gateway.js';
import { launchBrowser, screenshot } from '../support/browser.js';
import { startGateway, token, type TestGateway } from '../support/gateway.js';

const scope = uniqueInstance('starting-browser');
const failScope = uniqueInstance('failing-browser');

describe('starting page in a real browser', () => {
  let browser: Browser;
  let image: string;
  const gateways: TestGateway[] = [];
  let missing: string | undefined;

  beforeAll(async () => {
    await requireEngine();
    image = await slowDemoImage(2500);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all(gateways.map((g) => g.close()));
    if (missing) await dockerCli(['rmi', missing]);
    await cleanupInstance(scope.instance);
    await cleanupInstance(failScope.instance);
  });

  async function studentPage(gw: TestGateway, user: string) {
    const context = await browser.newContext();
    await context.addCookies([{ name: 'workspace_token', value: await token(user), url: gw.url, httpOnly: true, sameSite: 'Lax' }]);
    return context.newPage();
  }

  it('opens /ws/me, shows live progress, and lands in the workspace without a click', async () => {
    const gw = await startGateway(dockerEnv(scope, image));
    gateways.push(gw);
    const page = await studentPage(gw, 'ada');
    const phases: string[] = [];
    page.on('console', () => {});
    await page.goto(`${gw.url}/ws/me`);
    await page.getByRole('heading', { name: 'Starting your workspace' }).waitFor();
    expect(await page.title()).toContain('Starting your workspace');
    const shot1 = await screenshot(page, 'starting-1-progress');
    // The status line follows the engine: record what it says until the page moves on.
    const watcher = setInterval(() => {
      page
        .locator('#status')
        .textContent({ timeout: 100 })
        .then(
          (t) => t && !phases.includes(t) && phases.push(t),
          () => {},
        );
    }, 100);
    await page.locator('#workspace').waitFor({ timeout: 30_000 });
    clearInterval(watcher);
    expect(page.url()).toBe(`${gw.url}/ws/ada/`);
    expect(await page.locator('#workspace').textContent()).toBe('Workspace of ada');
    const shot2 = await screenshot(page, 'starting-2-arrived');
    expect(phases.some((p) => /editor/i.test(p))).toBe(true);
    expect(existsSync(shot1) && existsSync(shot2)).toBe(true);
    expect(await containersOf(scope.instance, 'ada')).toHaveLength(1);
    await page.context().close();
  });

  it('shows why a spawn failed, and the retry brings the student in once the image exists', async () => {
    missing = `workspace-gateway-missing:${failScope.instance}`;
    const gw = await startGateway(dockerEnv(failScope, missing));
    gateways.push(gw);
    const page = await studentPage(gw, 'grace');
    await page.goto(`${gw.url}/ws/me`);
    await page.getByText(`the image ${missing} is missing on the engine`).waitFor({ timeout: 15_000 });
    await screenshot(page, 'failed-1-reason');
    expect((await dockerCli(['tag', image, missing])).code).toBe(0);
    await page.getByRole('link', { name: 'Try again' }).click();
    await page.locator('#workspace').waitFor({ timeout: 30_000 });
    expect(await page.locator('#workspace').textContent()).toBe('Workspace of grace');
    await screenshot(page, 'failed-2-retried');
    await page.context().close();
  });
});
