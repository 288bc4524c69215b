// The pool: every registered worker with its devices, state, job and last
// heartbeat. Workers change without job events, so this page polls.
import { getJson, num } from './api.js';
import { clear, errorBox, fixed, h, stateName } from './util.js';

export function renderWorkers(view) {
  const body = h('tbody');
  const status = h('p', { class: 'muted' });
  clear(view, h('h1', {}, 'Workers'), status,
    h('table', { id: 'workers', class: 'grid' },
      h('thead', {}, h('tr', {}, ['Worker', 'Host', 'Devices', 'State', 'Job', 'Last heartbeat', 'Version'].map((t) => h('th', {}, t)))),
      body));
  let stopped = false;
  let timer = null;
  const load = async () => {
    try {
      const workers = (await getJson('workers')).workers || [];
      clear(body, workers.map((w) => {
        const state = stateName(w.state);
        const devices = num(w.gpus) > 0 ? `${w.gpus} GPU` : `${num(w.cpu_slots) || 'any'} CPU slots`;
        return h('tr', { dataset: { worker: w.id, state } },
          h('td', {}, w.id),
          h('td', {}, w.host),
          h('td', {}, devices),
          h('td', {}, h('span', { class: `state ${state}` }, state)),
          h('td', {}, w.job_id ? h('a', { href: `#/jobs/${encodeURIComponent(w.job_id)}` }, w.job_id) : ''),
          h('td', { class: 'num' }, `${fixed(Number(w.seconds_since_heartbeat), 1)} s ago`),
          h('td', {}, w.version));
      }));
      status.textContent = `${workers.length} workers`;
    } catch (error) {
      clear(status, errorBox(error));
    }
    if (!stopped) timer = setTimeout(load, 2000);
  };
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
