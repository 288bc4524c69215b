// What the charts plot, from a job's tick records (TickRecord in
// proto/pgan/v1/job.proto): metrics at the kimg of the snapshot they
// measured, losses, D's signs and the training speed.
import { num } from './api.js';

// Lower is better for the distances (FID, KID); higher for precision and
// recall (pr50k3_full's values are "precision"/"recall" pairs).
export function lowerIsBetter(metric) {
  return !/^pr|precision|recall/.test(metric);
}

export function metricNames(ticks) {
  const names = [];
  for (const tick of ticks) {
    for (const m of tick.metrics || []) if (!names.includes(m.metric)) names.push(m.metric);
  }
  return names;
}

// x of a tick: kimg, or its wall-clock end (Unix seconds).
export function xOf(tick, time) {
  return time ? Number(tick.timestamp) : Number(tick.kimg);
}

// [xs, ys] of one metric, ascending in x; a metric measured on a snapshot
// sits at that snapshot's kimg (metrics_kimg), not the tick's.
export function metricTable(ticks, name, time) {
  const points = [];
  for (const tick of ticks) {
    const m = (tick.metrics || []).find((v) => v.metric === name);
    if (!m) continue;
    const x = time ? Number(tick.timestamp) : Number(tick.metrics_kimg || tick.kimg);
    points.push([x, Number(m.value)]);
  }
  points.sort((a, b) => a[0] - b[0]);
  return [points.map((p) => p[0]), points.map((p) => p[1])];
}

// The index of the best value of ys (-1 when none).
export function bestIndex(ys, metric) {
  let best = -1;
  for (let i = 0; i < ys.length; i += 1) {
    if (!Number.isFinite(ys[i])) continue;
    if (best < 0 || (lowerIsBetter(metric) ? ys[i] < ys[best] : ys[i] > ys[best])) best = i;
  }
  return best;
}

// Columns of the per-tick curves.
export function tickColumns(ticks, time) {
  const x = ticks.map((t) => xOf(t, time));
  const col = (f) => ticks.map((t) => {
    const v = f(t);
    return Number.isFinite(v) ? v : null;
  });
  return {
    x,
    lossG: col((t) => Number(t.loss_g)),
    lossD: col((t) => Number(t.loss_d)),
    signReal: col((t) => Number(t.sign_real)),
    signFake: col((t) => Number(t.sign_fake)),
    kimgPerSec: col((t) => (Number(t.sec_per_kimg) > 0 ? 1 / Number(t.sec_per_kimg) : NaN)),
  };
}

// A tick joins the list; a restart's first tick rewinds it to that tick
// (the run resumed from a snapshot and trains those kimg again).
export function addTick(ticks, tick) {
  const n = num(tick.tick);
  while (ticks.length > 0 && num(ticks[ticks.length - 1].tick) >= n) ticks.pop();
  ticks.push(tick);
}
