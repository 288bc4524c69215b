// One job: its state and why, curves against kimg or wall time (metrics
// with the best point marked, losses, D's signs, kimg/s), the sample-grid
// time-lapse, snapshots with downloads, the configuration, its history,
// and cancel. Live through the event stream of this job.
import { getBlob, getJson, num, postJson, subscribe } from './api.js';
import { Chart, color } from './charts.js';
import { addTick, bestIndex, metricNames, metricTable, tickColumns } from './curves.js';
import { progress, reason } from './jobs.js';
import { TimeLapse } from './timelapse.js';
import { BlobUrls, bytes, clear, duration, errorBox, fixed, h, kimgText, metricText, stateName, TERMINAL, timeText } from './util.js';

export function renderJob(view, { id, setLive }) {
  const path = `jobs/${encodeURIComponent(id)}`;
  const urls = new BlobUrls();
  let job = null;
  let ticks = [];
  let time = false;
  let charts = [];
  let chartKey = '';

  const head = h('div', { class: 'job-head' });
  const message = h('div');
  const axis = h('select', { id: 'x-axis', 'aria-label': 'x axis' },
    h('option', { value: 'kimg' }, 'against kimg'),
    h('option', { value: 'time' }, 'against wall time'));
  const chartBox = h('div', { class: 'charts', id: 'charts' });
  const lapseBox = h('div');
  const snapshots = h('tbody');
  const history = h('tbody');
  const config = h('pre', { id: 'config', class: 'config' });
  clear(view, head, message,
    h('section', {}, h('div', { class: 'toolbar' }, h('h2', {}, 'Curves'), axis), chartBox),
    lapseBox,
    h('section', {}, h('h2', {}, 'Snapshots'),
      h('table', { id: 'snapshots', class: 'grid' },
        h('thead', {}, h('tr', {}, ['kimg', 'Metrics', 'Size', 'Written', ''].map((t) => h('th', {}, t)))),
        snapshots)),
    h('section', {}, h('h2', {}, 'Events'),
      h('table', { id: 'history', class: 'grid' },
        h('thead', {}, h('tr', {}, ['Time', 'State', 'Generation', 'Restarts', 'Workers', 'Why'].map((t) => h('th', {}, t)))),
        history)),
    h('section', {}, h('h2', {}, 'Configuration'), config));
  const lapse = new TimeLapse(lapseBox, id, urls);

  const drawHead = () => {
    const state = stateName(job.state);
    const tick = job.last_tick || {};
    const cancel = h('button', { id: 'cancel', type: 'button', class: 'danger' }, 'Cancel');
    cancel.addEventListener('click', async () => {
      if (!confirm(`Cancel job ${id}?`)) return;
      cancel.disabled = true;
      try {
        job = await postJson(`${path}:cancel`, '');
        drawHead();
      } catch (error) {
        clear(message, errorBox(error));
        cancel.disabled = false;
      }
    });
    clear(head,
      h('h1', {}, job.spec?.name || id, ' ', h('span', { id: 'job-state', class: `state ${state}` }, state)),
      h('p', { class: 'muted' }, `${id} · ${job.owner} · submitted ${timeText(job.submitted)}`),
      h('div', { class: 'facts' },
        h('progress', { max: 1, value: progress(job) }),
        h('span', {}, `${kimgText(tick.kimg)} of ${kimgText(job.spec?.training?.kimg)} kimg`),
        h('span', {}, `${fixed(Number(tick.sec_per_kimg), 1)} sec/kimg`),
        TERMINAL.has(state) ? null : h('span', {}, `ETA ${duration(Number(job.eta_seconds)) || '–'}`),
        h('span', {}, `best ${metricText((job.best_metrics || [])[0]) || '–'}`),
        h('span', {}, `${num(job.restarts)} restarts`),
        h('span', {}, `${job.world_size || job.spec?.resources?.workers || 0} workers`)),
      reason(job) ? h('p', { class: 'reason', id: 'job-reason' }, reason(job)) : null,
      TERMINAL.has(state) ? null : cancel);
    config.textContent = JSON.stringify(job.spec, null, 2);
  };

  // The charts are rebuilt when the set of metrics or the axis changes;
  // otherwise new ticks only set their data.
  const drawCharts = () => {
    const names = metricNames(ticks);
    const key = `${time}|${names.join(',')}`;
    if (key !== chartKey) {
      charts.forEach((c) => c.destroy());
      chartKey = key;
      charts = [];
      names.forEach((name, i) => {
        charts.push(new Chart(chartBox, {
          title: name, name: `metric:${name}`, time,
          series: [{ label: name, color: color(i) }, { label: 'best', color: '#000', points: true }],
        }));
      });
      charts.push(new Chart(chartBox, { title: 'Losses', name: 'losses', time,
        series: [{ label: 'G', color: color(0) }, { label: 'D', color: color(1) }] }));
      charts.push(new Chart(chartBox, { title: "D's signs", name: 'signs', time,
        series: [{ label: 'real', color: color(2) }, { label: 'fake', color: color(3) }] }));
      charts.push(new Chart(chartBox, { title: 'kimg/s', name: 'speed', time,
        series: [{ label: 'kimg/s', color: color(4) }] }));
    }
    names.forEach((name, i) => {
      const [x, y] = metricTable(ticks, name, time);
      const best = bestIndex(y, name);
      charts[i].setData(x, [y, y.map((v, j) => (j === best ? v : null))]);
      charts[i].caption.textContent = best >= 0
        ? `${name} (best ${y[best].toFixed(4)} at ${time ? timeText(x[best] * 1000) : `${kimgText(x[best])} kimg`})`
        : name;
    });
    const c = tickColumns(ticks, time);
    const n = names.length;
    charts[n].setData(c.x, [c.lossG, c.lossD]);
    charts[n + 1].setData(c.x, [c.signReal, c.signFake]);
    charts[n + 2].setData(c.x, [c.kimgPerSec]);
  };

  const drawSnapshots = async () => {
    const list = (await getJson(`${path}/snapshots`)).snapshots || [];
    clear(snapshots, list.map((s) => {
      // The API names a snapshot by the number in its file name.
      const file = String(s.path || '').split('/').pop();
      const which = (/(\d{6,})\.[a-z]+$/.exec(file) || [])[1] ||
        String(Math.floor(Number(s.kimg) + 1e-9)).padStart(6, '0');
      const download = h('button', { type: 'button', class: 'download', dataset: { which } }, 'Download');
      download.addEventListener('click', async () => {
        download.disabled = true;
        try {
          const blob = await getBlob(`${path}/snapshots/${which}/file`);
          const url = URL.createObjectURL(blob);
          const a = h('a', { href: url, download: file || `network-snapshot-${which}.pkl` });
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 60000);
        } catch (error) {
          clear(message, errorBox(error));
        } finally {
          download.disabled = false;
        }
      });
      return h('tr', { dataset: { kimg: s.kimg } },
        h('td', { class: 'num' }, kimgText(s.kimg)),
        h('td', {}, (s.metrics || []).map(metricText).join(', ')),
        h('td', { class: 'num' }, bytes(s.size_bytes)),
        h('td', {}, timeText(s.created)),
        h('td', {}, download));
    }));
  };

  const drawHistory = async () => {
    const list = (await getJson(`${path}/history`)).transitions || [];
    clear(history, list.map((t) => h('tr', {},
      h('td', {}, timeText(t.time)),
      h('td', {}, h('span', { class: `state ${stateName(t.state)}` }, stateName(t.state))),
      h('td', { class: 'num' }, String(num(t.generation))),
      h('td', { class: 'num' }, String(num(t.restarts))),
      h('td', { class: 'num' }, String(num(t.world_size))),
      h('td', { class: 'reason' }, t.reason || ''))));
  };

  const guard = (promise) => promise.catch((error) => clear(message, errorBox(error)));

  const load = async () => {
    try {
      job = await getJson(path);
      drawHead();
      ticks = [];
      for (const tick of (await getJson(`${path}/ticks`)).ticks || []) addTick(ticks, tick);
      drawCharts();
      await Promise.all([drawSnapshots(), drawHistory(), lapse.refresh()]);
    } catch (error) {
      clear(message, errorBox(error));
    }
  };

  axis.addEventListener('change', () => {
    time = axis.value === 'time';
    drawCharts();
  });

  const close = subscribe(`job_id=${encodeURIComponent(id)}`, {
    ready: load,
    reset: load,
    error: (error) => clear(message, errorBox(error)),
    job: (event) => {
      job = event.job;
      drawHead();
      guard(drawHistory());
    },
    tick: (event) => {
      addTick(ticks, event.tick);
      if (job) {
        job.last_tick = event.tick;
        job.eta_seconds = event.tick.eta_sec;
        drawHead();
      }
      drawCharts();
    },
    snapshot: () => {
      guard(drawSnapshots());
      lapse.refresh();
    },
  }, setLive);

  return () => {
    close();
    lapse.destroy();
    charts.forEach((c) => c.destroy());
    urls.revokeAll();
  };
}
