// The real processes a console test drives: pgan-coordinator with the web
// console on 127.0.0.1 and pool workers, in a fresh directory with its own
// tokens and a dataset of random 32x32 PNGs.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

// CRC-32 of PNG chunks (ISO 3309).
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// An 8-bit RGB PNG of `pixels` (height rows of width * 3 bytes).
export function png(width, height, pixels) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;  // bit depth
  header[9] = 2;  // RGB
  const rows = Buffer.alloc(height * (width * 3 + 1));
  for (let y = 0; y < height; y += 1) {
    pixels.copy(rows, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function waitFor(what, predicate, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export class Services {
  constructor(build) {
    this.build = build;
    this.dir = mkdtempSync(join(tmpdir(), 'pgan-console-'));
    this.processes = [];
    this.tokens = {
      alice: randomBytes(16).toString('hex'),
      bob: randomBytes(16).toString('hex'),
      worker: randomBytes(16).toString('hex'),
    };
    this.data = join(this.dir, 'data', 'images');
    this.storage = join(this.dir, 'storage');
  }

  spawn(name, argv, env = {}) {
    const log = createWriteStream(join(this.dir, `${name}.log`));
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.processes.push(child);
    return child;
  }

  log(name) {
    try {
      return readFileSync(join(this.dir, `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  async start({ workers = 2 } = {}) {
    mkdirSync(this.data, { recursive: true });
    for (let i = 0; i < 16; i += 1) {
      writeFileSync(join(this.data, `img${i}.png`), png(32, 32, randomBytes(32 * 32 * 3)));
    }
    writeFileSync(join(this.dir, 'tokens.txt'),
      `alice user ${sha256(this.tokens.alice)}\nbob user ${sha256(this.tokens.bob)}\n` +
      `workers worker ${sha256(this.tokens.worker)}\n`, { mode: 0o600 });
    const portFile = join(this.dir, 'port');
    const webPortFile = join(this.dir, 'web-port');
    this.spawn('coordinator', [
      process.env.PGAN_COORDINATOR || join(this.build, 'services', 'pgan-coordinator'), '--listen', '127.0.0.1:0', '--port-file', portFile,
      '--state', join(this.dir, 'state.db'), '--tokens', join(this.dir, 'tokens.txt'),
      '--data-root', join(this.dir, 'data'), '--storage', this.storage,
      '--web-listen', '127.0.0.1:0', '--web-root', join(this.build, 'web'), '--web-port-file', webPortFile,
    ]);
    const read = (file) => {
      try {
        return Number(readFileSync(file, 'utf8').trim()) || 0;
      } catch {
        return 0;
      }
    };
    this.port = await waitFor('the coordinator', () => read(portFile), 30000).catch((error) => {
      throw new Error(`${error.message}\n${this.log('coordinator')}`);
    });
    this.webPort = await waitFor('the web port', () => read(webPortFile), 10000);
    this.url = `http://127.0.0.1:${this.webPort}/`;
    for (let i = 0; i < workers; i += 1) {
      this.spawn(`worker-${i}`, [
        process.env.PGAN_WORKER || join(this.build, 'worker', 'pgan-worker'), '--coordinator', `127.0.0.1:${this.port}`,
        '--hostname', '127.0.0.1', '--cpu-slots', '1', '--comm-timeout', '60',
      ], { PGAN_TOKEN: this.tokens.worker });
    }
    await waitFor(`${workers} registered workers`, async () => {
      const list = await this.api('alice', 'workers');
      return (list.workers || []).length >= workers;
    }, 60000);
  }

  // The API as a user (no browser).
  async fetch(user, path, options = {}) {
    return fetch(`${this.url}api/v1/${path}`, {
      ...options,
      headers: { Authorization: `Bearer ${this.tokens[user] || user}`, ...(options.headers || {}) },
    });
  }

  async api(user, path, options) {
    const response = await this.fetch(user, path, options);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  }

  // A small job of two workers: `kimg` of 32x32 FastGAN-lite, a tick and a
  // snapshot (with its sample grid) every 4 images.
  spec(name, kimg) {
    return {
      name,
      resources: { workers: 2 },
      training: {
        model: { cfg: 'fastgan_lite', resolution: 32, ngf: 8 },
        data: this.data, batch: 4, kimg, tick: 0.004, snap: 1, threads: 1,
        grid_width: 2, grid_height: 1,
      },
    };
  }

  waitFor(what, predicate, timeoutMs) {
    return waitFor(what, predicate, timeoutMs);
  }

  async stop({ keep = false } = {}) {
    for (const child of this.processes) child.kill('SIGTERM');
    await Promise.all(this.processes.map((child) => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      child.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    })));
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
