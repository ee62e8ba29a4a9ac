/**
 * Sources that are not ordinary files, and files too big or too sparse for naive copies:
 * /proc and /sys files (size 0, real content), FIFOs, character devices, files above
 * 2 GiB (32-bit offset and per-call cap bugs) and an 8 GiB file that is nearly all holes.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { allocatedBytes, mountFs, scratchDir, sha256, sharedBytes, tscp, writeRandom, writeSparse, type RunResult } from '../helpers/fs.js';

const K = 1024;
const M = 1024 * 1024;
const G = 1024 * M;
const BIG = 2 * G + M + 17;

function ok(t: Test, r: RunResult, msg: string): void {
  t.equal(r.status, 0, `${msg}: exit 0${r.status === 0 ? '' : ` (stderr: ${r.stderr.trim()})`}`);
}

/** Files in `dir` other than the ones expected: leftovers such as temporary files. */
function leftovers(dir: string, expected: string[]): string[] {
  return fs.readdirSync(dir).filter((f) => !expected.includes(f));
}

t.test('/proc and /sys files copy their real content', async (t) => {
  const dir = scratchDir(t);
  const sysCandidates = [
    '/sys/kernel/mm/transparent_hugepage/enabled',
    '/sys/devices/system/cpu/online',
    '/sys/devices/system/cpu/possible',
    '/sys/kernel/mm/transparent_hugepage/hpage_pmd_size',
  ];
  const sysFile = sysCandidates.find((f) => {
    try {
      return fs.readFileSync(f).length > 0;
    } catch {
      return false;
    }
  });
  const files = ['/proc/filesystems', '/proc/version', ...(sysFile ? [sysFile] : [])];
  t.ok(sysFile, `a readable sysfs attribute: ${sysFile}`);
  for (const file of files) {
    const out = path.join(dir, path.basename(file));
    const r = tscp([file, out]);
    ok(t, r, file);
    const want = fs.readFileSync(file);
    t.ok(want.length > 0, `${file} has content`);
    t.equal(fs.readFileSync(out, 'utf8'), want.toString('utf8'), `${file}: the copy equals the content`);
  }
  // /proc/cpuinfo: several KiB; the MHz lines move between reads, so compare without them.
  const out = path.join(dir, 'cpuinfo');
  const r = tscp(['/proc/cpuinfo', out]);
  ok(t, r, '/proc/cpuinfo');
  const strip = (s: string) => s.split('\n').filter((l) => !/MHz|bogomips/i.test(l)).join('\n');
  const got = fs.readFileSync(out, 'utf8');
  t.ok(got.length > 0, '/proc/cpuinfo copy is not empty');
  t.equal(strip(got), strip(fs.readFileSync('/proc/cpuinfo', 'utf8')), '/proc/cpuinfo: the copy equals the content');
  // Into a directory: the basename is kept.
  fs.mkdirSync(path.join(dir, 'into'));
  ok(t, tscp(['/proc/version', path.join(dir, 'into')]), '/proc/version into a directory');
  t.equal(fs.readFileSync(path.join(dir, 'into', 'version'), 'utf8'), fs.readFileSync('/proc/version', 'utf8'), 'DIRECTORY/version holds the content');
});

t.test('--reflink=always with a /proc source fails and creates nothing', async (t) => {
  const dir = scratchDir(t);
  const out = path.join(dir, 'out');
  const r = tscp(['--reflink=always', '/proc/filesystems', out]);
  t.equal(r.status, 1, 'exit 1');
  t.match(r.stderr, /^tscp: cannot reflink '\/proc\/filesystems'/, `message: ${r.stderr.trim()}`);
  t.same(leftovers(dir, []), [], 'nothing created, no temporary file left');
  // An existing DEST stays as it was.
  fs.writeFileSync(out, 'keep me');
  const r2 = tscp(['--reflink=always', '/proc/version', out]);
  t.equal(r2.status, 1, 'exit 1 with an existing DEST');
  t.equal(fs.readFileSync(out, 'utf8'), 'keep me', 'existing DEST unchanged');
  t.same(leftovers(dir, ['out']), [], 'no temporary file left');
});

/**
 * Start a writer that feeds `data` into the FIFO. The promise resolves with its exit code
 * once it ends, or with null after `graceMs` from the call to the returned `settle`
 * (a writer still blocked because nobody opened the FIFO is then killed).
 */
function feedFifo(t: Test, fifo: string, dataFile: string): { settle(graceMs?: number): Promise<number | null> } {
  const writer = spawn('sh', ['-c', 'exec cat "$1" > "$2"', 'sh', dataFile, fifo], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => writer.on('exit', (code) => resolve(code)));
  const kill = () => {
    if (writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
  };
  t.teardown(kill);
  return {
    settle: (graceMs = 5000) =>
      Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => (kill(), resolve(null)), graceMs).unref())]),
  };
}

t.test('a FIFO source is streamed whole', async (t) => {
  const dir = scratchDir(t);
  const fifo = path.join(dir, 'fifo');
  const data = path.join(dir, 'data');
  const out = path.join(dir, 'out');
  execFileSync('mkfifo', [fifo]);
  // Several read buffers' worth, and an odd tail.
  writeRandom(data, 3 * M + 123);
  const exited = feedFifo(t, fifo, data);
  const r = tscp([fifo, out]);
  ok(t, r, 'FIFO copy');
  t.equal(await exited.settle(), 0, 'writer finished');
  t.equal(fs.statSync(out).size, 3 * M + 123, 'all bytes arrived');
  t.equal(sha256(out), sha256(data), 'bytes equal');
  t.ok(fs.lstatSync(fifo).isFIFO(), 'the FIFO itself is untouched');

  // --reflink=always cannot share a stream.
  const out2 = path.join(dir, 'out2');
  const exited2 = feedFifo(t, fifo, data);
  const r2 = tscp(['--reflink=always', fifo, out2]);
  t.equal(r2.status, 1, '--reflink=always from a FIFO: exit 1');
  t.notOk(fs.existsSync(out2), '--reflink=always from a FIFO: DEST not created');
  await exited2.settle();
  t.same(leftovers(dir, ['fifo', 'data', 'out']), [], '--reflink=always from a FIFO: no temporary file left');

  // A range needs a regular SOURCE.
  const out3 = path.join(dir, 'out3');
  const exited3 = feedFifo(t, fifo, data);
  const r3 = tscp(['-l', '4096', fifo, out3]);
  t.equal(r3.status, 1, 'range from a FIFO: exit 1');
  t.match(r3.stderr, /regular file.*EINVAL/, `range from a FIFO: clear message: ${r3.stderr.trim()}`);
  t.notOk(fs.existsSync(out3), 'range from a FIFO: DEST not created');
  await exited3.settle();
});

t.test('character devices', async (t) => {
  const dir = scratchDir(t);
  const out = path.join(dir, 'zero');
  const r = tscp(['-l', '4096', '/dev/zero', out]);
  t.equal(r.status, 1, '/dev/zero -l 4096: exit 1');
  t.match(r.stderr, /^tscp: cannot copy '\/dev\/zero' to '.*': .*regular file.*\(EINVAL\)\n$/, `clear message: ${r.stderr.trim()}`);
  t.notOk(fs.existsSync(out), 'DEST not created');
  // An existing DEST is left alone too.
  fs.writeFileSync(out, 'keep');
  const r2 = tscp(['-s', '0', '-d', '0', '-l', '4096', '/dev/zero', out]);
  t.equal(r2.status, 1, '/dev/zero range into an existing DEST: exit 1');
  t.equal(fs.readFileSync(out, 'utf8'), 'keep', 'existing DEST unchanged');

  // /dev/null streams to an empty file.
  const empty = path.join(dir, 'null');
  ok(t, tscp(['/dev/null', empty]), '/dev/null');
  t.equal(fs.statSync(empty).size, 0, '/dev/null copies to an empty file');
  t.ok(fs.statSync(empty).isFile(), 'DEST is a regular file');
});

/** A file of BIG bytes whose every MiB differs (random), written in 4 MiB writes. */
function writeBig(file: string): void {
  writeRandom(file, BIG);
}

/** sha256 of each 256 MiB slice: a mismatch says where, not only that. */
function sliceHashes(file: string): string[] {
  const out: string[] = [];
  const size = fs.statSync(file).size;
  for (let off = 0; off < size; off += 256 * M) out.push(sha256(file, off, Math.min(size, off + 256 * M)));
  return out;
}

function checkBig(t: Test, src: string, dest: string, what: string): void {
  t.equal(fs.statSync(dest).size, BIG, `${what}: DEST is ${BIG} bytes`);
  const a = sliceHashes(src);
  const b = sliceHashes(dest);
  const bad = a.map((h, i) => (h === b[i] ? -1 : i)).filter((i) => i >= 0);
  t.same(bad, [], `${what}: every 256 MiB slice equal (differing slices listed)`);
  t.equal(sha256(dest), sha256(src), `${what}: sha256 equal`);
}

t.test('a file over 2 GiB on ext4, auto mode (copy_file_range)', { timeout: 600_000 }, async (t) => {
  const dir = mountFs(t, 'ext4', 6144);
  if (!dir) return;
  const src = path.join(dir, 'big');
  const dest = path.join(dir, 'big.copy');
  writeBig(src);
  const r = tscp(['-v', src, dest], { timeout: 590_000 });
  ok(t, r, 'copy');
  t.match(r.stdout, /copy_file_range/, `went through copy_file_range: ${r.stdout.trim()}`);
  checkBig(t, src, dest, 'ext4 auto');
});

t.test('a file over 2 GiB on xfs with --copy (sendfile)', { timeout: 600_000 }, async (t) => {
  const dir = mountFs(t, 'xfs', 6144);
  if (!dir) return;
  const src = path.join(dir, 'big');
  const dest = path.join(dir, 'big.copy');
  writeBig(src);
  const r = tscp(['-v', '--copy', src, dest], { timeout: 590_000 });
  ok(t, r, 'copy');
  t.match(r.stdout, /sendfile/, `went through sendfile: ${r.stdout.trim()}`);
  checkBig(t, src, dest, 'xfs --copy');
  t.equal(sharedBytes(dest), 0, 'nothing shared');
});

t.test('a file over 2 GiB from ext4 to xfs', { timeout: 600_000 }, async (t) => {
  const ext4 = mountFs(t, 'ext4', 4096);
  const xfs = mountFs(t, 'xfs', 4096);
  if (!ext4 || !xfs) return;
  const src = path.join(ext4, 'big');
  const dest = path.join(xfs, 'big.copy');
  writeBig(src);
  const r = tscp([src, dest], { timeout: 590_000 });
  ok(t, r, 'copy');
  checkBig(t, src, dest, 'ext4 -> xfs');
});

t.test('a range beyond 2 GiB lands at the right offsets', { timeout: 600_000 }, async (t) => {
  const dir = mountFs(t, 'ext4', 1024);
  if (!dir) return;
  // Sparse SOURCE with data just below and above 2 GiB and 4 GiB: offsets past 32 bits.
  const src = path.join(dir, 'sparse-src');
  writeSparse(src, 5 * G, [[2 * G - 3 * K, 64 * K], [4 * G + 5, 100 * K]]);
  const dest = path.join(dir, 'range.dst');
  const s = 2 * G - 4 * K;
  const l = 4 * G + 5 + 100 * K + 9 - s;
  const d = 3 * G + 4 * K;
  const r = tscp(['-s', String(s), '-d', String(d), '-l', String(l), src, dest], { timeout: 590_000 });
  ok(t, r, 'range copy');
  t.equal(fs.statSync(dest).size, d + l, 'DEST size is d + l');
  t.equal(sha256(dest, d, d + l), sha256(src, s, s + l), 'range bytes equal');
  t.ok(allocatedBytes(dest) < 2 * M, `holes kept (${allocatedBytes(dest)} bytes allocated)`);
});

/** SOURCE hashes, read once per file: reading 8 GiB of holes is not free. */
const srcHash: Record<string, string> = {};

/** Copy an 8 GiB file holding 4 MiB of data; the bytes are compared by reading all of both files. */
function sparseCase(t: Test, dir: string, extra: string[], what: string): void {
  const src = path.join(dir, 'sparse8g');
  const dest = path.join(dir, `sparse8g.copy${extra.join('')}`);
  if (!fs.existsSync(src)) {
    writeSparse(src, 8 * G, [
      [0, 1 * M],
      [3 * G + 12_345, 2 * M],
      [8 * G - M - 7, M],
    ]);
  }
  const started = performance.now();
  const r = tscp([...extra, src, dest], { timeout: 300_000 });
  const seconds = (performance.now() - started) / 1000;
  ok(t, r, what);
  t.ok(seconds < 10, `${what}: fast (${seconds.toFixed(2)} s)`);
  t.equal(fs.statSync(dest).size, 8 * G, `${what}: DEST is 8 GiB`);
  const allocated = allocatedBytes(dest);
  t.ok(allocated <= allocatedBytes(src) + 1 * M, `${what}: holes kept (${allocated} bytes allocated, SOURCE ${allocatedBytes(src)})`);
  srcHash[src] ??= sha256(src);
  t.equal(sha256(dest), srcHash[src], `${what}: bytes equal`);
}

t.test('a sparse 8 GiB file copies fast and keeps its holes', { timeout: 600_000 }, async (t) => {
  t.test('ext4', { timeout: 600_000 }, async (t) => {
    const dir = mountFs(t, 'ext4', 1024);
    if (!dir) return;
    sparseCase(t, dir, [], 'ext4 auto');
    sparseCase(t, dir, ['--copy'], 'ext4 --copy');
  });
  t.test('tmpfs (smaller than the apparent size)', { timeout: 600_000 }, async (t) => {
    const dir = mountFs(t, 'tmpfs', 128);
    if (!dir) return;
    sparseCase(t, dir, [], 'tmpfs auto');
    sparseCase(t, dir, ['--copy'], 'tmpfs --copy');
  });
  t.test('xfs --copy', { timeout: 600_000 }, async (t) => {
    const dir = mountFs(t, 'xfs', 1024);
    if (!dir) return;
    sparseCase(t, dir, ['--copy'], 'xfs --copy');
  });
});
