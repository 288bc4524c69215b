// Two or more jobs side by side: one curve overlaid per job (a metric, or a
// loss), and their sample grids at the same kimg.
import { getJson, subscribe } from './api.js';
import { Chart, color, joinTables } from './charts.js';
import { addTick, metricNames, metricTable, xOf } from './curves.js';
import { listAll } from './jobs.js';
import { gridUrl } from './timelapse.js';
import { BlobUrls, clear, errorBox, h, kimgText, stateName } from './util.js';

const LOSSES = { 'loss G': 'loss_g', 'loss D': 'loss_d', 'D sign real': 'sign_real', 'D sign fake': 'sign_fake' };

// The job picker when no jobs are named yet.
async function renderPicker(view) {
  const list = await listAll();
  const chosen = new Set();
  const go = h('button', { type: 'button', id: 'compare-go', disabled: true }, 'Compare');
  go.addEventListener('click', () => {
    location.hash = `#/compare?ids=${[...chosen].map(encodeURIComponent).join(',')}`;
  });
  clear(view, h('h1', {}, 'Compare jobs'), h('p', {}, 'Pick two or more jobs.'),
    h('ul', { class: 'picker' }, list.map((job) => {
      const box = h('input', { type: 'checkbox', value: job.id });
      box.addEventListener('change', () => {
        if (box.checked) chosen.add(job.id);
        else chosen.delete(job.id);
        go.disabled = chosen.size < 2;
      });
      return h('li', {}, h('label', {}, box, ` ${job.spec?.name || job.id} (${job.id}, ${stateName(job.state)})`));
    })),
    go);
}

export function renderCompare(view, { params, setLive }) {
  const ids = (params.get('ids') || '').split(',').map(decodeURIComponent).filter(Boolean);
  if (ids.length < 2) {
    renderPicker(view).catch((error) => clear(view, errorBox(error)));
    return () => {};
  }
  const urls = new BlobUrls();
  const runs = ids.map((id) => ({ id, job: null, ticks: [], grids: [] }));
  let time = false;
  let chart = null;
  let chartKey = '';
  const which = h('select', { id: 'compare-metric', 'aria-label': 'curve' });
  const axis = h('select', { id: 'compare-axis', 'aria-label': 'x axis' },
    h('option', { value: 'kimg' }, 'against kimg'), h('option', { value: 'time' }, 'against wall time'));
  const chartBox = h('div', { class: 'charts' });
  const slider = h('input', { type: 'range', id: 'compare-kimg', min: 0, max: 0, step: 1, value: 0, 'aria-label': 'kimg' });
  const sliderLabel = h('span', {});
  const grids = h('div', { class: 'side-by-side', id: 'compare-grids' });
  const message = h('div');
  clear(view, h('h1', {}, `Compare ${ids.length} jobs`), message,
    h('div', { class: 'toolbar' }, which, axis), chartBox,
    h('section', {}, h('h2', {}, 'Samples at the same kimg'), h('div', { class: 'toolbar' }, slider, sliderLabel), grids));

  const curveNames = () => {
    const names = [];
    for (const run of runs) for (const n of metricNames(run.ticks)) if (!names.includes(n)) names.push(n);
    return [...names, ...Object.keys(LOSSES)];
  };

  const table = (run, name) => {
    if (LOSSES[name]) {
      return [run.ticks.map((t) => xOf(t, time)), run.ticks.map((t) => Number(t[LOSSES[name]]))];
    }
    return metricTable(run.ticks, name, time);
  };

  const drawChart = () => {
    const names = curveNames();
    if (which.options.length !== names.length) {
      const current = which.value;
      clear(which, names.map((n) => h('option', { value: n }, n)));
      which.value = names.includes(current) ? current : names[0];
    }
    const key = `${time}|${which.value}`;
    if (key !== chartKey) {
      if (chart) chart.destroy();
      chartKey = key;
      chart = new Chart(chartBox, {
        title: which.value, name: 'compare', time,
        series: runs.map((run, i) => ({ label: run.job?.spec?.name || run.id, color: color(i) })),
      });
    }
    // uPlot's join takes each table's x ascending and finite.
    const joined = joinTables(runs.map((run) => {
      const [x, y] = table(run, which.value);
      const keep = x.map(Number.isFinite);
      return [x.filter((_, i) => keep[i]), y.filter((_, i) => keep[i])];
    }));
    chart.setData(joined[0], joined.slice(1));
  };

  const kimgs = () => [...new Set(runs.flatMap((run) => run.grids.map((g) => Number(g.kimg))))].sort((a, b) => a - b);

  const drawGrids = async () => {
    const all = kimgs();
    slider.max = String(Math.max(0, all.length - 1));
    if (Number(slider.value) > all.length - 1) slider.value = slider.max;
    const kimg = all[Number(slider.value)];
    sliderLabel.textContent = kimg === undefined ? 'no grids yet' : `${kimgText(kimg)} kimg`;
    const cells = await Promise.all(runs.map(async (run, i) => {
      // The newest grid at or before the chosen kimg.
      const grid = [...run.grids].reverse().find((g) => Number(g.kimg) <= (kimg ?? -1) + 1e-9);
      const image = h('img', { class: 'grid-image', alt: `${run.id} samples` });
      if (grid) {
        image.dataset.name = grid.name;
        image.src = await gridUrl(urls, run.id, grid);
      }
      return h('figure', { dataset: { job: run.id } },
        h('figcaption', {}, h('span', { class: 'swatch', dataset: { color: i % 8 } }),
          `${run.job?.spec?.name || run.id}: ${grid ? `${kimgText(grid.kimg)} kimg` : 'no grid yet'}`),
        image);
    }));
    clear(grids, cells);
  };

  const loadRun = async (run) => {
    const path = `jobs/${encodeURIComponent(run.id)}`;
    const [job, ticks, samples] = await Promise.all([
      getJson(path), getJson(`${path}/ticks`), getJson(`${path}/samples`)]);
    run.job = job;
    run.ticks = [];
    for (const tick of ticks.ticks || []) addTick(run.ticks, tick);
    run.grids = samples.grids || [];
  };

  const load = async () => {
    try {
      await Promise.all(runs.map(loadRun));
      chartKey = '';
      drawChart();
      await drawGrids();
    } catch (error) {
      clear(message, errorBox(error));
    }
  };

  which.addEventListener('change', drawChart);
  axis.addEventListener('change', () => {
    time = axis.value === 'time';
    drawChart();
  });
  slider.addEventListener('input', () => drawGrids().catch((error) => clear(message, errorBox(error))));

  const close = subscribe('', {
    ready: load,
    reset: load,
    error: (error) => clear(message, errorBox(error)),
    tick: (event) => {
      const run = runs.find((r) => r.id === event.job_id);
      if (!run) return;
      addTick(run.ticks, event.tick);
      drawChart();
    },
    snapshot: async (event) => {
      const run = runs.find((r) => r.id === event.job_id);
      if (!run) return;
      try {
        run.grids = (await getJson(`jobs/${encodeURIComponent(run.id)}/samples`)).grids || [];
        await drawGrids();
      } catch (error) {
        clear(message, errorBox(error));
      }
    },
  }, setLive);
  return () => {
    close();
    if (chart) chart.destroy();
    urls.revokeAll();
  };
}
