// Builds the console into one directory that pgan-coordinator serves
// (--web-root): the files of src/ as they are (plain ES modules, no
// bundler) and uPlot's module and style sheet from node_modules, pinned by
// package-lock.json. Usage: node build.mjs OUT_DIR
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs OUT_DIR');
  process.exit(2);
}
const uplot = join(here, 'node_modules', 'uplot', 'dist');
try {
  readdirSync(uplot);
} catch {
  console.error(`${uplot} is missing: run "npm ci" in ${here} first`);
  process.exit(1);
}
// A fresh directory each time, so that a file removed from src/ is gone.
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'vendor'), { recursive: true });
cpSync(join(here, 'src'), out, { recursive: true });
cpSync(join(uplot, 'uPlot.esm.js'), join(out, 'vendor', 'uPlot.esm.js'));
cpSync(join(uplot, 'uPlot.min.css'), join(out, 'vendor', 'uPlot.min.css'));
