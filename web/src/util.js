// Small DOM and formatting helpers. Text always goes in as text nodes, never
// as HTML: job names, reasons and messages come from users.

// h('td', {class: 'x', onclick: f}, child, ...): an element. Attributes
// starting with "on" are listeners; children are nodes or strings.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// "JOB_STATE_RUNNING" -> "running".
export function stateName(state) {
  return String(state || '').replace(/^(JOB|WORKER)_STATE_/, '').toLowerCase();
}

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  const hours = Math.floor(s / 3600);
  if (hours < 48) return `${hours}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Number(n) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

// kimg with the digits that matter at its size (a test job's 0.06, a
// real run's 12345.6).
export function kimgText(value) {
  const v = Number(value);
  if (!Number.isFinite(v)) return '';
  return v.toFixed(v < 1 ? 3 : v < 100 ? 2 : 1);
}

export function fixed(value, digits = 3) {
  return Number.isFinite(value) ? value.toFixed(digits) : '';
}

// A metric value as the reference's logs print it.
export function metricText(m) {
  return m ? `${m.metric} ${Number(m.value).toFixed(4)}` : '';
}

export function timeText(timestamp) {
  if (!timestamp) return '';
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString();
}

// Object URLs of fetched images, kept per key and revoked together when the
// page that showed them goes.
export class BlobUrls {
  constructor() {
    this.urls = new Map();
  }
  async get(key, fetchBlob) {
    if (!this.urls.has(key)) {
      this.urls.set(key, fetchBlob().then((blob) => URL.createObjectURL(blob)));
    }
    try {
      return await this.urls.get(key);
    } catch (error) {
      this.urls.delete(key);
      throw error;
    }
  }
  revokeAll() {
    for (const url of this.urls.values()) url.then((u) => URL.revokeObjectURL(u), () => {});
    this.urls.clear();
  }
}

export function errorBox(error) {
  return h('p', { class: 'error', role: 'alert' }, error.message || String(error));
}
