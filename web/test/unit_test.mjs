// The console's pure functions, in Node (no browser): what the charts plot
// from tick records, and where the submit page puts a field's error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addTick, bestIndex, lowerIsBetter, metricNames, metricTable, tickColumns } from '../src/curves.js';
import { lineOfField } from '../src/submit.js';

const tick = (n, kimg, extra = {}) => ({ tick: String(n), kimg, timestamp: 1000 + n, sec_per_kimg: 4, ...extra });

test('a restart rewinds the ticks to the one it starts at', () => {
  const ticks = [];
  for (let n = 0; n < 5; n += 1) addTick(ticks, tick(n, n * 0.1));
  addTick(ticks, tick(3, 0.3, { loss_g: 9 }));
  assert.deepEqual(ticks.map((t) => Number(t.tick)), [0, 1, 2, 3]);
  assert.equal(ticks[3].loss_g, 9);
});

test('metrics sit at the kimg of the snapshot they measured, in order', () => {
  const ticks = [
    tick(1, 0.2, { metrics: [{ metric: 'fid50k_full', value: 80 }], metrics_kimg: 0.1 }),
    tick(2, 0.4),
    tick(3, 0.6, { metrics: [{ metric: 'fid50k_full', value: 60 }, { metric: 'kid50k_full', value: 0.1 }], metrics_kimg: 0.5 }),
  ];
  assert.deepEqual(metricNames(ticks), ['fid50k_full', 'kid50k_full']);
  assert.deepEqual(metricTable(ticks, 'fid50k_full', false), [[0.1, 0.5], [80, 60]]);
  assert.deepEqual(metricTable(ticks, 'fid50k_full', true), [[1001, 1003], [80, 60]]);
});

test('the best point is the lowest distance, or the highest precision', () => {
  assert.equal(bestIndex([50, 30, 40], 'fid50k_full'), 1);
  assert.equal(bestIndex([0.5, 0.7, 0.6], 'pr50k3_full_precision'), 1);
  assert.equal(bestIndex([], 'fid50k_full'), -1);
  assert.equal(bestIndex([NaN, 3], 'fid50k_full'), 1);
  assert.ok(lowerIsBetter('kid50k_full'));
});

test('per-tick columns: losses, signs and kimg/s, null where not finite', () => {
  const c = tickColumns([tick(0, 0, { loss_g: 1, loss_d: 2, sign_real: 0.5, sign_fake: -0.5 }), tick(1, 0.1, { sec_per_kimg: 0 })], false);
  assert.deepEqual(c.x, [0, 0.1]);
  assert.deepEqual(c.lossG, [1, null]);
  assert.deepEqual(c.signFake, [-0.5, null]);
  assert.deepEqual(c.kimgPerSec, [0.25, null]);
});

test("a field's error goes to the line of its key, in JSON and YAML", () => {
  const json = '{\n  "name": "x",\n  "training": {\n    "batch": -4\n  }\n}';
  assert.equal(lineOfField(json, 'training.batch'), 4);
  assert.equal(lineOfField('name: x\ntraining:\n  batch: -4\n', 'training.batch'), 3);
  assert.equal(lineOfField('name: x\n', 'training.metrics[0]'), 0);
  assert.equal(lineOfField('metrics: [a]\n', 'training.metrics[0]'), 1);
});
