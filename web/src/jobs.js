// The jobs table: every job the caller may see (users their own, admins
// all), kept current by the event stream; filters by state and text; a
// selection to compare.
import { getJson, num, subscribe } from './api.js';
import { h, clear, duration, errorBox, fixed, kimgText, metricText, stateName, TERMINAL } from './util.js';

const STATES = ['queued', 'running', 'restarting', 'succeeded', 'failed', 'cancelled'];

export function progress(job) {
  const total = Number(job.spec?.training?.kimg) || 0;
  const done = Number(job.last_tick?.kimg) || 0;
  if (stateName(job.state) === 'succeeded') return 1;
  return total > 0 ? Math.min(1, done / total) : 0;
}

// Why a job is where it is: the queue's reason, a failure's, or nothing.
export function reason(job) {
  return job.pending_reason || job.failure_reason || '';
}

// Every job the caller may see, page by page.
export async function listAll() {
  const jobs = [];
  let pageToken = '';
  do {
    const page = await getJson(`jobs?page_size=1000${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ''}`);
    jobs.push(...(page.jobs || []));
    pageToken = page.next_page_token || '';
  } while (pageToken);
  return jobs;
}

export function renderJobs(view, { setLive, params }) {
  const jobs = new Map();
  const selected = new Set();
  const stateFilter = h('select', { id: 'state-filter', 'aria-label': 'State' },
    h('option', { value: '' }, 'any state'),
    h('option', { value: 'active' }, 'active'),
    STATES.map((s) => h('option', { value: s }, s)));
  stateFilter.value = params.get('state') || '';
  const textFilter = h('input', { id: 'text-filter', type: 'search', placeholder: 'name, id or owner' });
  const compare = h('button', { id: 'compare-selected', type: 'button', disabled: true }, 'Compare selected');
  const body = h('tbody');
  const status = h('p', { class: 'muted' }, 'Loading…');
  clear(view,
    h('div', { class: 'toolbar' }, h('h1', {}, 'Jobs'), stateFilter, textFilter, compare),
    status,
    h('table', { id: 'jobs', class: 'grid' },
      h('thead', {}, h('tr', {},
        ['', 'Job', 'State', 'Owner', 'Progress', 'kimg', 'sec/kimg', 'ETA', 'Best metric', 'Restarts', 'Why'].map(
          (t) => h('th', {}, t)))),
      body));

  const visible = (job) => {
    const state = stateName(job.state);
    const want = stateFilter.value;
    if (want === 'active' && TERMINAL.has(state)) return false;
    if (want && want !== 'active' && state !== want) return false;
    const text = textFilter.value.trim().toLowerCase();
    if (!text) return true;
    return [job.id, job.owner, job.spec?.name].some((v) => String(v || '').toLowerCase().includes(text));
  };

  const row = (job) => {
    const state = stateName(job.state);
    const tick = job.last_tick || {};
    const box = h('input', { type: 'checkbox', 'aria-label': `select ${job.id}`, checked: selected.has(job.id) });
    box.addEventListener('change', () => {
      if (box.checked) selected.add(job.id);
      else selected.delete(job.id);
      compare.disabled = selected.size < 2;
    });
    const fraction = progress(job);
    return h('tr', { dataset: { job: job.id, state } },
      h('td', {}, box),
      h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.spec?.name || job.id),
        h('div', { class: 'muted small' }, job.id)),
      h('td', {}, h('span', { class: `state ${state}` }, state)),
      h('td', {}, job.owner),
      h('td', {}, h('progress', { max: 1, value: fraction, title: `${Math.round(fraction * 100)}%` })),
      h('td', { class: 'num' }, kimgText(tick.kimg)),
      h('td', { class: 'num' }, fixed(Number(tick.sec_per_kimg), 1)),
      h('td', { class: 'num' }, TERMINAL.has(state) ? '' : duration(Number(job.eta_seconds))),
      h('td', {}, metricText((job.best_metrics || [])[0])),
      h('td', { class: 'num' }, String(num(job.restarts))),
      h('td', { class: 'reason' }, reason(job)));
  };

  const draw = () => {
    const shown = [...jobs.values()].filter(visible)
      .sort((a, b) => String(b.submitted || '').localeCompare(String(a.submitted || '')) || b.id.localeCompare(a.id));
    clear(body, shown.map(row));
    status.textContent = jobs.size === 0 ? 'No jobs yet: submit one.' : `${shown.length} of ${jobs.size} jobs`;
  };
  let scheduled = false;
  const redraw = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      draw();
    });
  };
  stateFilter.addEventListener('change', redraw);
  textFilter.addEventListener('input', redraw);
  compare.addEventListener('click', () => {
    location.hash = `#/compare?ids=${[...selected].map(encodeURIComponent).join(',')}`;
  });

  // The list is read after the stream's first event, so that no change
  // falls between the two.
  const load = async () => {
    try {
      const all = await listAll();
      jobs.clear();
      for (const job of all) jobs.set(job.id, job);
      draw();
    } catch (error) {
      clear(status, errorBox(error));
    }
  };
  // `reset`: the stream lost changes (the feed moved past this client); the
  // list is read again.
  const close = subscribe('', {
    ready: load,
    reset: load,
    error: (error) => clear(status, errorBox(error)),
    job: (event) => {
      jobs.set(event.job.id, event.job);
      redraw();
    },
    tick: (event) => {
      const job = jobs.get(event.job_id);
      if (!job) return;
      job.last_tick = event.tick;
      job.eta_seconds = event.tick.eta_sec;
      redraw();
    },
  }, setLive);
  return close;
}
