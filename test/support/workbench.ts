/** Reading VS Code's workbench in a test's browser page (code-server 4.100.3). */
import type { Page } from 'playwright-core';

/** Waits for the workbench with its Explorer: drawn once the connection to the editor's server is up. */
export async function untilWorkbench(page: Page): Promise<void> {
  await page.locator('.monaco-workbench').waitFor({ timeout: 120_000 });
  await page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ timeout: 60_000 });
}

/** The text of every integrated terminal on the page (the DOM renderer's rows; WebGL off). */
export function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => [...document.querySelectorAll('.xterm-rows')].map((rows) => (rows as HTMLElement).innerText).join('\n'));
}
