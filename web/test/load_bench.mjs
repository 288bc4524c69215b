// The console API under load: N open consoles (event streams) on a real
// pgan-coordinator while the job list is read and jobs are submitted.
// Prints the p50/p99 latency of GET /api/v1/jobs and of the event stream
// (a submit's job event, from the request's start to its arrival on every
// stream). A benchmark, not a test: it asserts nothing about speed.
//
//   node web/test/load_bench.mjs BUILD_DIR [--consoles 100] [--jobs 200] [--lists 500]
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { Services } from './services.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const build = resolve(args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--'))) || 'build');
const consoles = option('consoles', 100);
const jobs = option('jobs', 200);
const lists = option('lists', 500);

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const report = (name, values) => console.log(
  `${name.padEnd(34)} n=${String(values.length).padStart(6)}  p50 ${quantile(values, 0.5).toFixed(2).padStart(7)} ms` +
  `  p99 ${quantile(values, 0.99).toFixed(2).padStart(7)} ms  max ${Math.max(...values).toFixed(2).padStart(7)} ms`);

const services = new Services(build);
try {
  await services.start({ workers: 0 });
  const submitStarted = new Map();  // job name -> performance.now() at its POST
  const eventLatency = [];
  let ready = 0;
  const streams = [];
  for (let i = 0; i < consoles; i += 1) {
    const controller = new AbortController();
    streams.push(controller);
    (async () => {
      const response = await services.fetch('alice', 'events', { signal: controller.signal });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      const seen = new Set();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.includes('event: ready')) ready += 1;
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (!block.includes('event: job') || !data) continue;
          const job = JSON.parse(data.slice(6)).job;
          const started = submitStarted.get(job.spec.name);
          // The first event of each job (its submission) per stream.
          if (started !== undefined && !seen.has(job.id)) {
            seen.add(job.id);
            eventLatency.push(performance.now() - started);
          }
        }
      }
    })().catch(() => {});
  }
  await services.waitFor(`${consoles} open streams`, () => ready >= consoles, 60000);

  const spec = (name) => JSON.stringify({ ...services.spec(name, 1), resources: { workers: 1 } });
  const submitLatency = [];
  for (let i = 0; i < jobs; i += 1) {
    const name = `load-${i}`;
    const started = performance.now();
    submitStarted.set(name, started);
    await services.api('alice', 'jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: spec(name) });
    submitLatency.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 10));
  }
  await services.waitFor('every job event on every stream', () => eventLatency.length >= jobs * consoles, 60000)
    .catch(() => console.log(`only ${eventLatency.length} of ${jobs * consoles} job events arrived`));

  const listLatency = [];
  for (let i = 0; i < lists; i += 1) {
    const started = performance.now();
    const page = await services.api('alice', 'jobs');
    listLatency.push(performance.now() - started);
    if ((page.jobs || []).length !== Math.min(100, jobs)) throw new Error(`a page of ${page.jobs.length} jobs`);
  }
  console.log(`${consoles} open consoles (event streams), ${jobs} queued jobs; client and coordinator on this machine`);
  report('GET /api/v1/jobs (100 per page)', listLatency);
  report('POST /api/v1/jobs', submitLatency);
  report('job event, submit to every stream', eventLatency);
  for (const controller of streams) controller.abort();
} finally {
  await services.stop();
}
