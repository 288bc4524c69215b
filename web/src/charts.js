// Curves with uPlot (pinned in package-lock.json): fast with thousands of
// ticks. A chart is redrawn from its data with setData, at most once a
// frame however many ticks arrive.
import uPlot from './vendor/uPlot.esm.js';
import { h } from './util.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function color(i) {
  return COLORS[i % COLORS.length];
}

// One chart: `series` are {label, color, points (only markers, no line)};
// the x axis is kimg, or wall-clock time when `time` is set.
export class Chart {
  constructor(parent, { title, series, time = false, xLabel, yLog = false, name }) {
    this.element = h('figure', { class: 'chart', dataset: { chart: name || title } });
    this.caption = h('figcaption', {}, title);
    this.element.append(this.caption);
    parent.append(this.element);
    this.series = series;
    this.time = time;
    this.pending = null;
    this.data = [[], ...series.map(() => [])];
    const options = {
      width: this.width(),
      height: 220,
      scales: { x: { time }, y: yLog ? { distr: 3 } : {} },
      // Three significant digits: a test job's 0.0021 kimg/s stays legible.
      axes: [{ label: xLabel || (time ? '' : 'kimg') },
        {
          values: (u, splits) => splits.map((v) => (v === null ? '' : String(Number(v.toPrecision(3))))),
          // Wide enough for the longest label.
          size: (u, values) => Math.max(40, 16 + 8 * Math.max(0, ...(values || []).map((v) => String(v).length))),
        }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: time ? 'time' : 'kimg' },
        ...series.map((s) =>
          s.points
            ? {
                label: s.label,
                stroke: s.color,
                fill: s.color,
                paths: () => null,
                points: { show: true, size: 11, width: 2, stroke: s.color, fill: '#fff' },
              }
            : { label: s.label, stroke: s.color, width: 1.5, spanGaps: true, points: { show: false } },
        ),
      ],
    };
    this.plot = new uPlot(options, this.data, this.element);
    // The chart fills its figure (a cell of the page's grid of charts).
    this.observer = new ResizeObserver(() => {
      const width = this.width();
      if (Math.abs(width - this.plot.width) > 1) this.plot.setSize({ width, height: 220 });
    });
    this.observer.observe(this.element);
  }

  width() {
    return Math.max(280, this.element.clientWidth || 600);
  }

  // x: numbers ascending; ys: one array per series (null where none).
  setData(x, ys) {
    this.data = [x, ...ys];
    this.element.dataset.points = String(x.length);
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = null;
      this.plot.setData(this.data);
    });
  }

  destroy() {
    if (this.pending) cancelAnimationFrame(this.pending);
    this.observer.disconnect();
    this.plot.destroy();
    this.element.remove();
  }
}

// Several (x, y) tables on one x axis (the union of their xs; gaps null).
export function joinTables(tables) {
  if (tables.length === 0) return [[]];
  return uPlot.join(tables.map(([x, y]) => [x, y]));
}
