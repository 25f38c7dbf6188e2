/**
 * Debian's chromium, headless, through playwright-core, for the browser tests; and a watch on a
 * page for what it complains about: script errors, console errors (chromium reports a CSP
 * violation as one), failed requests and error responses.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  } catch (err) {
    throw new Error(`cannot launch ${CHROMIUM} (Debian: apt-get install -y chromium; .ci/run installs it): ${(err as Error).message}`);
  }
}

/** Collects the page's problems as text, from now on; `expect(problems).toEqual([])` names them all. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => msg.type() === 'error' && problems.push(`console: ${msg.text()}`));
  page.on('response', (res) => res.status() >= 400 && problems.push(`${res.status()} ${res.request().method()} ${res.url()}`));
  // A reload or navigation aborts what is in flight (net::ERR_ABORTED): the page's doing, not a failure.
  page.on('requestfailed', (req) => {
    const error = req.failure()?.errorText;
    if (error !== 'net::ERR_ABORTED') problems.push(`failed: ${req.url()} ${error}`);
  });
  return problems;
}
