// How the job page copes with a long run: the built console (BUILD_DIR/web)
// against a stand-in API of one job with N ticks (a metric every 10th), in
// Debian's chromium. Prints the time from opening the page to every tick
// plotted, and the time from a tick event's arrival to its point on the
// chart. A benchmark: it asserts nothing about speed.
//
//   node web/test/render_bench.mjs BUILD_DIR [--ticks 5000] [--events 200]
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const root = join(resolve(args[0] && !args[0].startsWith('--') ? args[0] : 'build'), 'web');
const ticks = option('ticks', 5000);
const events = option('events', 200);

const tick = (n) => ({
  tick: String(n), kimg: n * 4, sec_per_kimg: 10 + Math.sin(n / 50), loss_g: Math.sin(n / 7), loss_d: 2 + Math.cos(n / 9),
  sign_real: 0.3, sign_fake: -0.2, timestamp: 1.7e9 + n * 40, eta_sec: 100,
  ...(n % 10 === 0 ? { metrics: [{ metric: 'fid50k_full', value: 300 / (1 + n / 100) }], metrics_kimg: n * 4 } : {}),
});
const job = {
  id: 'job-1', owner: 'alice', state: 'JOB_STATE_RUNNING', spec: { name: 'long', training: { kimg: 100000 } },
  last_tick: tick(ticks - 1), restarts: 0,
};
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
let stream = null;
const server = createServer((request, response) => {
  const url = new URL(request.url, 'http://x');
  const json = (body) => {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  if (url.pathname === '/api/v1/events') {
    response.writeHead(200, { 'Content-Type': 'text/event-stream' });
    response.write('id: 0\nevent: ready\ndata: {"sequence": 0}\n\n');
    stream = response;
    return;
  }
  if (url.pathname === '/api/v1/jobs') return json({ jobs: [job] });
  if (url.pathname === '/api/v1/jobs/job-1') return json(job);
  if (url.pathname === '/api/v1/jobs/job-1/ticks') return json({ ticks: Array.from({ length: ticks }, (_, i) => tick(i)) });
  if (url.pathname.startsWith('/api/v1/jobs/job-1/')) return json({});
  try {
    const file = join(root, url.pathname === '/' ? 'index.html' : url.pathname);
    const body = readFileSync(file);
    response.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' });
    response.end(body);
  } catch {
    response.writeHead(404);
    response.end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({
  executablePath: process.env.PGAN_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(base);
  await page.evaluate(() => sessionStorage.setItem('pgan.token', 'x'));
  const started = Date.now();
  await page.goto(`${base}#/jobs/job-1`);
  await page.waitForFunction((n) => Number(document.querySelector('figure[data-chart=losses]')?.dataset.points) === n
    && document.querySelector('figure[data-chart=losses] canvas'), ticks, { timeout: 60000 });
  // One frame more: the data is drawn at the next animation frame.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const open = Date.now() - started;
  const latencies = [];
  for (let i = 0; i < events; i += 1) {
    const n = ticks + i;
    const sent = Date.now();
    stream.write(`id: ${i + 1}\nevent: tick\ndata: ${JSON.stringify({ job_id: 'job-1', tick: tick(n) })}\n\n`);
    await page.waitForFunction((want) => Number(document.querySelector('figure[data-chart=losses]').dataset.points) === want, n + 1);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
    latencies.push(Date.now() - sent);
  }
  latencies.sort((a, b) => a - b);
  console.log(`job page with ${ticks} ticks (${ticks / 10} metric points), 4 charts`);
  console.log(`open to every tick drawn: ${open} ms`);
  console.log(`tick event to its point drawn: p50 ${latencies[Math.floor(events / 2)]} ms, p99 ${latencies[Math.floor(events * 0.99)]} ms (n=${events})`);
} finally {
  await browser.close();
  server.close();
  if (stream) stream.end();
}
