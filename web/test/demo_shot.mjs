// The README's screenshot (web/console.png): the job page of a running
// `tools/dev.sh demo`, in Debian's chromium.
//
//   node web/test/demo_shot.mjs URL TOKEN OUT.png
import { chromium } from 'playwright-core';

const [url, token, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node web/test/demo_shot.mjs URL TOKEN OUT.png');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.PGAN_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(url);
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#jobs tbody tr');
  await page.click('#jobs tbody tr a');
  await page.waitForSelector('.timelapse[data-grids] .grid-image[data-name]');
  await page.waitForTimeout(1000);
  // The head, the curves and the samples under them.
  const bottom = await page.evaluate(() => {
    const box = document.querySelector('.timelapse').getBoundingClientRect();
    return Math.ceil(box.bottom + window.scrollY + 8);
  });
  await page.screenshot({ path: out, fullPage: true, clip: { x: 0, y: 0, width: 1280, height: bottom } });
} finally {
  await browser.close();
}
