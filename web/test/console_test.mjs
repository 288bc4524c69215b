// The web console in a real browser (Debian's chromium, driven by
// playwright-core) against a real pgan-coordinator and two pool workers
// training small jobs. Run by CTest (WebConsoleTest):
//
//   node web/test/console_test.mjs BUILD_DIR ARTIFACTS_DIR
//
// Screenshots of every page go to ARTIFACTS_DIR. Root (CI, containers) needs
// chromium's --no-sandbox; the flags below keep it from calling out.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Services } from './services.mjs';

const build = resolve(process.argv[2] || 'build');
const artifacts = resolve(process.argv[3] || join(build, 'web-test-artifacts'));
const CHROMIUM = process.env.PGAN_CHROMIUM || '/usr/bin/chromium';
mkdirSync(artifacts, { recursive: true });

const services = new Services(build);
let browser;
let jobA;  // Trains to the end.
let jobB;  // Cancelled from its page.
const violations = [];

const sha256 = (buffer) => createHash('sha256').update(buffer).digest('hex');

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: tools/dev.sh installs Debian's chromium`);
  assert.ok(existsSync(join(build, 'web', 'index.html')), `${build}/web is not built`);
  await services.start({ workers: 2 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
  });
});

after(async () => {
  if (browser) await browser.close();
  const failed = process.exitCode && process.exitCode !== 0;
  if (failed) {
    for (const name of ['coordinator', 'worker-0', 'worker-1']) {
      console.error(`==> ${name}.log\n${services.log(name).slice(-4000)}`);
    }
  }
  await services.stop();
});

// A page of a fresh browser context (its own session storage), logged in
// as `user`; CSP violations and page errors are collected.
async function open(user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.text().startsWith('CSP violation')) violations.push(message.text());
  });
  page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));
  page.on('dialog', (dialog) => dialog.accept());
  await page.goto(services.url);
  if (user) {
    await page.fill('#token', services.tokens[user] || user);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#jobs');
  }
  return page;
}

const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

test('a wrong token is refused at login, and the API answers 401', async () => {
  const page = await open(null);
  await page.fill('#token', 'not-a-token');
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.includes('not valid'));
  assert.equal(await page.isVisible('#jobs'), false);
  const response = await services.fetch('not-a-token', 'jobs');
  assert.equal(response.status, 401);
  assert.match(response.headers.get('www-authenticate') || '', /Bearer/);
  assert.match(response.headers.get('content-security-policy') || '', /script-src 'self'/);
  await shot(page, 'login-refused');
  await page.context().close();
});

test('a spec error is shown next to its field', async () => {
  const page = await open('alice');
  await page.click('nav a[data-nav=submit]');
  const spec = services.spec('bad', 0.02);
  spec.training.batch = -4;
  await page.fill('#spec', JSON.stringify(spec, null, 2));
  await page.click('#submit');
  const error = page.locator('span.field-error[data-field="training.batch"]');
  await error.waitFor();
  await page.waitForFunction(() => document.querySelector('span.field-error[data-field="training.batch"]').textContent !== '');
  assert.match(await error.textContent(), /training\.batch/);
  await shot(page, 'submit-field-error');
  await page.context().close();
});

test('a submitted job appears, its curves grow with its ticks, and it succeeds', async () => {
  const page = await open('alice');
  await page.click('nav a[data-nav=submit]');
  // The feature network's Frechet distance on the 16 reals at every
  // snapshot: a metric curve without Inception's weights.
  const spec = services.spec('console-a', 0.06);
  spec.training.metrics = ['fd16_full'];
  await page.fill('#spec', JSON.stringify(spec, null, 2));
  await page.click('#submit');
  const link = page.locator('#submitted');
  await link.waitFor();
  jobA = (await link.textContent()).trim();

  await page.click('nav a[data-nav=jobs]');
  await page.locator(`#jobs tr[data-job="${jobA}"]`).waitFor();

  await page.goto(`${services.url}#/jobs/${jobA}`);
  const points = async () => Number(await page.getAttribute('figure[data-chart=losses]', 'data-points')) || 0;
  await page.locator('figure[data-chart=losses]').waitFor();
  const first = await services.waitFor('a first tick on the chart', points, 120000);
  const later = await services.waitFor('more ticks on the chart', async () => {
    const n = await points();
    return n > first ? n : 0;
  }, 120000);
  assert.ok(later > first, `${later} > ${first}`);
  await page.waitForSelector('#job-state.succeeded', { timeout: 240000 });
  const ticks = (await services.api('alice', `jobs/${jobA}/ticks`)).ticks;
  await services.waitFor('every tick on the chart', async () => (await points()) === ticks.length, 10000);
  // The metric's curve has a point per measured snapshot and marks the
  // best. Without Inception the name says which features it used
  // (fd16_full_efficientnet_lite0).
  const name = ((ticks.find((t) => (t.metrics || []).length > 0) || {}).metrics || [{}])[0].metric || '';
  assert.match(name, /^fd16_full/);
  const measured = ticks.filter((t) => (t.metrics || []).some((m) => m.metric === name));
  const values = measured.map((t) => t.metrics.find((m) => m.metric === name).value);
  assert.ok(measured.length >= 2, `${measured.length} ticks with ${name}`);
  const selector = `figure[data-chart="metric:${name}"]`;
  await page.waitForFunction(([sel, n]) => Number(document.querySelector(sel)?.dataset.points) === n,
    [selector, measured.length]);
  assert.match(await page.locator(`${selector} figcaption`).textContent(),
    new RegExp(`best ${Math.min(...values).toFixed(4)} at`));
  // Against wall time the same ticks are drawn.
  await page.selectOption('#x-axis', 'time');
  await services.waitFor('the ticks against wall time', async () => (await points()) === ticks.length, 10000);
  await page.selectOption('#x-axis', 'kimg');
  await shot(page, 'job');
  await page.screenshot({ path: join(artifacts, 'job-top.png') });  // The job page at a glance.

  await page.goto(`${services.url}#/jobs`);
  await page.waitForSelector(`#jobs tr[data-job="${jobA}"][data-state=succeeded]`);
  assert.match(await page.locator(`#jobs tr[data-job="${jobA}"]`).textContent(), /fd16_full\w* \d/);
  await shot(page, 'jobs');
  await page.context().close();
});

test('the time-lapse shows every grid the job wrote', async () => {
  const page = await open('alice');
  await page.goto(`${services.url}#/jobs/${jobA}`);
  const grids = (await services.api('alice', `jobs/${jobA}/samples`)).grids;
  const snapshots = (await services.api('alice', `jobs/${jobA}/snapshots`)).snapshots;
  const runDir = dirname(snapshots[0].path);
  const onDisk = readdirSync(runDir).filter((f) => /^fakes.*\.png$/.test(f)).sort();
  assert.deepEqual(grids.map((g) => g.name).sort(), onDisk);
  assert.ok(onDisk.includes('fakes_init.png'));
  await page.waitForSelector(`.timelapse[data-grids="${grids.length}"]`);
  for (let i = 0; i < grids.length; i += 1) {
    await page.locator('.timelapse input[type=range]').fill(String(i));
    await page.waitForFunction((name) => {
      const img = document.querySelector('.grid-image');
      return img.dataset.name === name && img.complete && img.naturalWidth > 0;
    }, grids[i].name);
  }
  // Play runs from the first grid to the last.
  await page.locator('.timelapse input[type=range]').fill('0');
  await page.click('.timelapse button.play');
  await page.waitForFunction((name) => document.querySelector('.grid-image').dataset.name === name,
    grids[grids.length - 1].name, { timeout: 30000 });
  await shot(page, 'timelapse');
  await page.context().close();
});

test('a snapshot downloads byte for byte', async () => {
  const page = await open('alice');
  await page.goto(`${services.url}#/jobs/${jobA}`);
  const snapshots = (await services.api('alice', `jobs/${jobA}/snapshots`)).snapshots;
  const last = snapshots[snapshots.length - 1];
  const row = page.locator('#snapshots tbody tr').last();
  await row.waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), row.locator('button.download').click()]);
  const got = readFileSync(await download.path());
  const want = readFileSync(last.path);
  assert.equal(got.length, want.length);
  assert.equal(sha256(got), sha256(want));
  await page.context().close();
});

test('cancel stops a running job', async () => {
  const page = await open('alice');
  jobB = (await services.api('alice', 'jobs', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(services.spec('console-b', 1000)),
  })).id;
  await page.goto(`${services.url}#/jobs/${jobB}`);
  await page.waitForSelector('#job-state.running', { timeout: 120000 });
  await page.waitForFunction(() => Number(document.querySelector('figure[data-chart=losses]')?.dataset.points) > 1,
    null, { timeout: 120000 });
  await page.click('#cancel');
  await page.waitForSelector('#job-state.cancelled', { timeout: 60000 });
  await page.waitForFunction(() => document.querySelector('#history').textContent.includes('cancelled'));
  assert.equal((await services.api('alice', `jobs/${jobB}`)).state, 'JOB_STATE_CANCELLED');
  await shot(page, 'cancelled');
  await page.context().close();
});

test('a YAML spec uploads, the table says why it waits, and the filters find jobs', async () => {
  const page = await open('alice');
  await page.click('nav a[data-nav=submit]');
  // Three workers: more than the pool has, so it stays queued.
  const yaml = [
    'name: console-c',
    'resources:',
    '  workers: 3',
    'training:',
    '  model: {cfg: fastgan_lite, resolution: 32, ngf: 8}',
    `  data: ${services.data}`,
    '  batch: 6',
    '  kimg: 1',
  ].join('\n');
  await page.setInputFiles('#spec-file', { name: 'job.yaml', mimeType: 'application/yaml', buffer: Buffer.from(yaml) });
  await page.waitForFunction(() => document.getElementById('spec').value.startsWith('name: console-c'));
  await page.click('#submit');
  await page.locator('#submitted').waitFor();
  const jobC = (await page.locator('#submitted').textContent()).trim();
  await page.click('nav a[data-nav=jobs]');
  const row = page.locator(`#jobs tr[data-job="${jobC}"][data-state=queued]`);
  await row.waitFor();
  const why = (await row.locator('td.reason').textContent()).trim();
  assert.equal(why, (await services.api('alice', `jobs/${jobC}`)).pending_reason);
  assert.ok(why.length > 0, 'a queued job says why it waits');
  await page.selectOption('#state-filter', 'queued');
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 1);
  assert.equal(await page.locator('#jobs tbody tr').getAttribute('data-job'), jobC);
  await page.selectOption('#state-filter', '');
  await page.fill('#text-filter', 'console-a');
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 1);
  assert.equal(await page.locator('#jobs tbody tr').getAttribute('data-job'), jobA);
  await page.fill('#text-filter', '');
  await shot(page, 'jobs-queued');
  const cancelled = await services.fetch('alice', `jobs/${jobC}:cancel`, { method: 'POST' });
  assert.equal(cancelled.status, 200);
  await page.waitForSelector(`#jobs tr[data-job="${jobC}"][data-state=cancelled]`);
  await page.context().close();
});

test('compare overlays two jobs and shows their grids side by side', async () => {
  const page = await open('alice');
  await page.locator(`#jobs tr[data-job="${jobA}"] input[type=checkbox]`).check();
  await page.locator(`#jobs tr[data-job="${jobB}"] input[type=checkbox]`).check();
  await page.click('#compare-selected');
  await page.locator('#compare-metric').waitFor();
  await page.selectOption('#compare-metric', 'loss G');
  // uPlot's legend: the x series and one per job.
  await page.waitForFunction(() => document.querySelectorAll('figure[data-chart=compare] .u-legend .u-series').length === 3);
  const labels = await page.locator('figure[data-chart=compare] .u-legend .u-series .u-label').allTextContents();
  assert.deepEqual(labels.slice(1), ['console-a', 'console-b']);
  assert.ok(Number(await page.getAttribute('figure[data-chart=compare]', 'data-points')) > 0);
  await page.waitForFunction(() => {
    const images = [...document.querySelectorAll('#compare-grids figure img')];
    return images.length === 2 && images.every((img) => img.complete && img.naturalWidth > 0);
  });
  await shot(page, 'compare');
  await page.context().close();
});

test("another user's job is refused, in the console and the API", async () => {
  const page = await open('bob');
  assert.equal(await page.locator(`#jobs tr[data-job="${jobA}"]`).count(), 0);
  await page.goto(`${services.url}#/jobs/${jobA}`);
  await page.waitForSelector('#view p.error');
  assert.match(await page.locator('#view p.error').first().textContent(), /not found|no job/i);
  for (const path of [`jobs/${jobA}`, `jobs/${jobA}/samples/fakes_init.png`, `jobs/${jobA}/snapshots/latest/file`]) {
    const response = await services.fetch('bob', path);
    assert.ok([403, 404].includes(response.status), `${path}: ${response.status}`);
  }
  const cancel = await services.fetch('bob', `jobs/${jobB}:cancel`, { method: 'POST' });
  assert.ok([403, 404].includes(cancel.status));
  await page.context().close();
});

test('the workers page lists the pool', async () => {
  const page = await open('alice');
  await page.click('nav a[data-nav=workers]');
  await page.waitForFunction(() => document.querySelectorAll('#workers tbody tr').length === 2);
  assert.equal(await page.locator('#workers tbody tr[data-state=idle]').count(), 2);
  await shot(page, 'workers');
  await page.context().close();
});

test('no page broke the Content-Security-Policy or threw', () => {
  assert.deepEqual(violations, []);
});
