/** Reading and driving VS Code's workbench in a test's browser page (code-server 4.100.3). */
import type { Page } from 'playwright-core';
import { expect, vi } from 'vitest';
import { screenshot } from './browser.js';

/** Waits for the workbench with its Explorer: drawn once the connection to the editor's server is up. */
export async function untilWorkbench(page: Page): Promise<void> {
  await page.locator('.monaco-workbench').waitFor({ timeout: 120_000 });
  await page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ timeout: 60_000 });
}

/** The text of every integrated terminal on the page (the DOM renderer's rows; WebGL off). */
export function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => [...document.querySelectorAll('.xterm-rows')].map((rows) => (rows as HTMLElement).innerText).join('\n'));
}

const TERMINALS = '.terminal-wrapper .xterm';

/**
 * Opens a new terminal (Ctrl+Shift+`) and waits for the shell's `prompt`.
 * On a loaded machine the key press can arrive before the workbench has
 * the keyboard, and no terminal opens: the keys are pressed again then (at
 * most three times), never while a terminal is on the page. A failure
 * leaves a screenshot named `failedShot` among the artifacts.
 */
export async function openTerminal(page: Page, prompt: RegExp, failedShot: string): Promise<void> {
  const before = await page.locator(TERMINALS).count();
  for (let press = 1; press <= 3 && (await page.locator(TERMINALS).count()) === before; press++) {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 300 } });
    await page.keyboard.press('Control+Shift+Backquote');
    await page
      .locator(TERMINALS)
      .nth(before)
      .waitFor({ timeout: 20_000 })
      .catch(() => {});
  }
  try {
    await vi.waitFor(async () => expect(await terminalText(page), 'the shell prompt').toMatch(prompt), { timeout: 60_000, interval: 500 });
  } catch (err) {
    const terminals = await page.locator(TERMINALS).count();
    throw new Error(`no shell prompt (${terminals - before} new terminal(s) on the page; see ${await screenshot(page, failedShot)})`, { cause: err });
  }
}

/**
 * Types a command into the newest terminal and waits until `ran(screen)`
 * says it ran; returns the terminals' text then. The terminal's input can
 * miss the first keys while it is still taking focus (nothing is echoed
 * then): a command that never appeared on the screen is typed once more,
 * never one that did.
 */
export async function runInTerminal(page: Page, command: string, ran: (screen: string) => boolean | Promise<boolean>): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await page.locator(TERMINALS).last().click();
    await page.keyboard.type(command, { delay: 20 });
    await page.keyboard.press('Enter');
    const screen = await vi
      .waitFor(
        async () => {
          const text = await terminalText(page);
          expect(await ran(text), `the command ran: ${command}\n${text}`).toBe(true);
          return text;
        },
        { timeout: 15_000, interval: 500 },
      )
      .catch(async (err: unknown) => {
        if (attempt < 3 && !(await terminalText(page)).includes(command.slice(0, 20))) return undefined;
        throw err;
      });
    if (screen !== undefined) return screen;
  }
}
