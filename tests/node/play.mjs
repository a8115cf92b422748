// play.mjs URL TIMEOUT_MS USER_DATA_DIR: opens URL (tests/node/play.html) in Debian's
// headless Chromium through playwright-core, waits until the page's title is "done" (or
// TIMEOUT_MS) and prints the page's window.result as JSON on stdout.  The page's console
// messages and any page errors go to stderr.  Exit status: 0 if the page finished, 1 if it
// timed out (the partial result is printed all the same), 2 on a launch or navigation error.
import { chromium } from 'playwright-core';

const [url, timeoutArg, userDataDir] = process.argv.slice(2);
if (!url || !userDataDir) {
  console.error('usage: play.mjs URL TIMEOUT_MS USER_DATA_DIR');
  process.exit(2);
}
const timeout = Number(timeoutArg || 30000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

let context;
let status = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
} catch (e) {
  console.error(`cannot launch ${executablePath}: ${e.message}`);
  process.exit(2);
}
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => console.error(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));
  await page.goto(url, { timeout });
  try {
    await page.waitForFunction(() => document.title === 'done', null, { timeout, polling: 100 });
  } catch (e) {
    console.error(`the page did not finish within ${timeout} ms`);
    status = 1;
  }
  const result = await page.evaluate(() => window.result);
  console.log(JSON.stringify(result));
} catch (e) {
  console.error(`error: ${e.message}`);
  status = 2;
} finally {
  await context.close().catch(() => {});
}
process.exit(status);
