// The time-lapse of a job's sample grids (fakes_init.png, then one per
// snapshot): a slider over them by kimg and a play button. Images come
// through the API with the token, as blobs.
import { getBlob, getJson } from './api.js';
import { h, clear, errorBox, kimgText } from './util.js';

// A grid's image as an object URL, fetched once per file version (a grid
// written again, below a kimg apart, has a new `written`).
export function gridUrl(urls, jobId, grid) {
  return urls.get(`${jobId}/${grid.name}/${grid.written}`, () =>
    getBlob(`jobs/${encodeURIComponent(jobId)}/samples/${encodeURIComponent(grid.name)}`));
}

export class TimeLapse {
  constructor(parent, jobId, urls) {
    this.jobId = jobId;
    this.urls = urls;
    this.grids = [];
    this.index = -1;
    this.timer = null;
    this.image = h('img', { class: 'grid-image', alt: 'sample grid' });
    this.slider = h('input', { type: 'range', min: 0, max: 0, value: 0, step: 1, 'aria-label': 'grid' });
    this.play = h('button', { type: 'button', class: 'play' }, 'Play');
    this.label = h('span', { class: 'grid-label' }, 'no grids yet');
    this.message = h('div');
    this.element = h('section', { class: 'timelapse' },
      h('h2', {}, 'Samples'),
      h('div', { class: 'toolbar' }, this.play, this.slider, this.label),
      this.message, this.image);
    parent.append(this.element);
    this.slider.addEventListener('input', () => this.show(Number(this.slider.value)));
    this.play.addEventListener('click', () => (this.timer ? this.stop() : this.start()));
  }

  // Lists the grids again (after a snapshot event); stays on the latest if
  // it was there.
  async refresh() {
    try {
      const response = await getJson(`jobs/${encodeURIComponent(this.jobId)}/samples`);
      const atEnd = this.index < 0 || this.index === this.grids.length - 1;
      this.grids = response.grids || [];
      this.element.dataset.grids = String(this.grids.length);
      this.slider.max = String(Math.max(0, this.grids.length - 1));
      if (this.grids.length === 0) return;
      await this.show(atEnd ? this.grids.length - 1 : this.index);
    } catch (error) {
      clear(this.message, errorBox(error));
    }
  }

  url(grid) {
    return gridUrl(this.urls, this.jobId, grid);
  }

  async show(index) {
    const grid = this.grids[index];
    if (!grid) return;
    this.index = index;
    this.slider.value = String(index);
    this.label.textContent = `${kimgText(grid.kimg)} kimg · ${grid.name} (${index + 1}/${this.grids.length})`;
    try {
      const url = await this.url(grid);
      if (this.index !== index) return;  // The slider moved on meanwhile.
      this.image.src = url;
      this.image.dataset.name = grid.name;
      clear(this.message);
      const next = this.grids[index + 1];
      if (next) this.url(next).catch(() => {});
    } catch (error) {
      clear(this.message, errorBox(error));
    }
  }

  start() {
    if (this.grids.length < 2) return;
    if (this.index >= this.grids.length - 1) this.show(0);
    this.play.textContent = 'Pause';
    this.timer = setInterval(() => {
      if (this.index >= this.grids.length - 1) return this.stop();
      this.show(this.index + 1);
    }, 600);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.play.textContent = 'Play';
  }

  destroy() {
    this.stop();
  }
}
