// Submit a job: a JobSpec as JSON or YAML, pasted, uploaded or filled in
// through the common fields. The coordinator validates it as `pgan submit`
// would; an error that names a field is shown next to that field (or next
// to its line in the text).
import { postJson } from './api.js';
import { clear, h } from './util.js';

// The fields most jobs set, by their path in the JobSpec.
const FIELDS = [
  ['name', 'Name', 'text'],
  ['training.data', 'Dataset (zip or directory)', 'text'],
  ['training.model.cfg', 'cfg (fastgan, fastgan_lite, stylegan2)', 'text'],
  ['training.model.resolution', 'Resolution (0: the dataset\'s)', 'number'],
  ['training.batch', 'Batch', 'number'],
  ['training.kimg', 'kimg', 'number'],
  ['resources.workers', 'Workers', 'number'],
];

const EXAMPLE = {
  name: 'my-run',
  resources: { workers: 1 },
  training: { model: { cfg: 'fastgan_lite' }, data: 'datasets/pokemon256.zip', batch: 64, kimg: 10000 },
};

function getPath(object, path) {
  return path.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), object);
}

function setPath(object, path, value) {
  const keys = path.split('.');
  let o = object;
  for (const k of keys.slice(0, -1)) {
    if (!o[k] || typeof o[k] !== 'object') o[k] = {};
    o = o[k];
  }
  if (value === undefined) delete o[keys[keys.length - 1]];
  else o[keys[keys.length - 1]] = value;
}

// The 1-based line of `text` where the last key of `field` appears, or 0.
export function lineOfField(text, field) {
  const key = field.split('.').pop().replace(/\[\d+\]$/, '');
  const pattern = new RegExp(`(^|[\\s{,"'])${key.replace(/[^\w]/g, '')}["']?\\s*:`);
  const lines = text.split('\n');
  const index = lines.findIndex((line) => pattern.test(line));
  return index + 1;
}

export function renderSubmit(view) {
  const text = h('textarea', { id: 'spec', rows: 18, spellcheck: 'false', 'aria-label': 'job spec' });
  text.value = JSON.stringify(EXAMPLE, null, 2);
  const textError = h('p', { class: 'error field-error', id: 'spec-error', role: 'alert' });
  const upload = h('input', { type: 'file', id: 'spec-file', accept: '.json,.yaml,.yml,application/json' });
  const submit = h('button', { type: 'submit', id: 'submit' }, 'Submit');
  const result = h('p', { id: 'submit-result', role: 'status' });
  const inputs = new Map();
  const errors = new Map();
  const rows = FIELDS.map(([path, label, type]) => {
    const input = h('input', { type, id: `field-${path}`, name: path, step: type === 'number' ? 'any' : undefined });
    const error = h('span', { class: 'error field-error', dataset: { field: path } });
    inputs.set(path, input);
    errors.set(path, error);
    input.addEventListener('input', () => {
      let spec;
      try {
        spec = JSON.parse(text.value);
      } catch {
        return;  // YAML or half-typed: the form does not rewrite it.
      }
      const raw = input.value.trim();
      setPath(spec, path, raw === '' ? undefined : type === 'number' ? Number(raw) : raw);
      text.value = JSON.stringify(spec, null, 2);
    });
    return h('label', { class: 'field' }, h('span', {}, label), input, error);
  });
  // The form shows what the text says, when it is JSON.
  const fill = () => {
    let spec;
    try {
      spec = JSON.parse(text.value);
    } catch {
      return;
    }
    for (const [path, input] of inputs) {
      const value = getPath(spec, path);
      input.value = value === undefined || typeof value === 'object' ? '' : String(value);
    }
  };
  text.addEventListener('input', fill);
  upload.addEventListener('change', async () => {
    const file = upload.files[0];
    if (!file) return;
    text.value = await file.text();
    fill();
  });

  const form = h('form', { id: 'submit-form', class: 'submit', novalidate: true },
    h('h1', {}, 'Submit a job'),
    h('p', { class: 'muted' }, 'A JobSpec (proto/pgan/v1/job.proto) as JSON or YAML, as `pgan submit` takes it.'),
    h('div', { class: 'fields' }, rows),
    h('label', { class: 'field wide' }, h('span', {}, 'Job spec'), text, textError),
    h('div', { class: 'toolbar' }, upload, submit),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const error of errors.values()) error.textContent = '';
    textError.textContent = '';
    result.textContent = '';
    submit.disabled = true;
    const body = text.value;
    const yaml = !body.trim().startsWith('{');
    try {
      const job = await postJson('jobs', body, yaml ? 'application/yaml' : 'application/json');
      clear(result, 'Submitted ', h('a', { href: `#/jobs/${encodeURIComponent(job.id)}`, id: 'submitted' }, job.id));
    } catch (error) {
      const slot = error.field && errors.get(error.field);
      if (slot) {
        slot.textContent = error.message;
        inputs.get(error.field).focus();
      } else {
        const line = error.field ? lineOfField(body, error.field) : 0;
        textError.textContent = line > 0 ? `line ${line}: ${error.message}` : error.message;
      }
      if (error.field) textError.dataset.field = error.field;
    } finally {
      submit.disabled = false;
    }
  });
  fill();
  clear(view, form);
  return () => {};
}
