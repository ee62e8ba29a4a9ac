/**
 * Every copy mode end to end, on every filesystem where it means something, with the real
 * binary and real loop mounts (XFS with reflink=1, btrfs, ext4, tmpfs). What the kernel did
 * is checked by independent witnesses: sha256 for bytes, filefrag (FIEMAP "shared") for
 * shared extents, st_blocks for holes, and the directory listing for leftovers.
 *
 *   auto (default)   reflink on XFS/btrfs; EOPNOTSUPP then an in-kernel copy on ext4/tmpfs
 *   --reflink=always reflink or exit 1, leaving DEST as it was (bare --reflink = always)
 *   --reflink=never  an independent copy: no extent of DEST shared (also --copy)
 *   --dedupe         share every block whose bytes are equal; exit 3 when any differ
 *
 * Each filesystem is mounted once (lazily) for the whole file; every case works in its own
 * fresh directory on it. The -v line and the measured shared/allocated bytes of each copy
 * are collected and printed as TAP comments at the end, as a table of what was observed.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  ALL_FS,
  BIN,
  REFLINK_FS,
  allocatedBytes,
  cannotMountReason,
  mayRun,
  mountFs,
  sha256,
  sharedBytes,
  tscp as tscpWith,
  writeRandom,
  writeSparse,
  type FsKind,
  type RunResult,
} from '../helpers/fs.js';

const K = 1024;
const M = 1024 * 1024;
/** Not a whole number of blocks, so the partial last block is exercised too. */
const WHOLE_SIZE = 3 * M + 12345;
/** Allowed difference between DEST's and SOURCE's allocation for sparse copies. */
const ALLOC_SLACK = M;
const TEMP_PREFIX = '.tscp-';
const MOUNT_MIB: Record<FsKind, number> = { xfs: 512, btrfs: 512, ext4: 256, tmpfs: 256 };

const isReflinkFs = (kind: FsKind) => REFLINK_FS.includes(kind);

/** Runs of the binary and the time they took (each start-up costs ~0.15 s alone, ~0.45 s under tap, which instruments every child node). */
const runs = { count: 0, ms: 0 };

/** Run the built binary. */
function tscp(args: string[]): RunResult {
  const started = performance.now();
  try {
    return tscpWith(args);
  } finally {
    runs.count++;
    runs.ms += performance.now() - started;
  }
}

// ---------------------------------------------------------------------------------------
// Mounts and working directories

const root = t;
const mounts = new Map<FsKind, string>();

/** A fresh directory on a filesystem of `kind`, or null (after skip/fail) if none can be mounted. */
function workDir(tt: Test, kind: FsKind, label = 'case'): string | null {
  if (!mayRun(tt, cannotMountReason(kind))) return null;
  let mnt = mounts.get(kind);
  if (mnt === undefined) {
    const m = mountFs(root, kind, MOUNT_MIB[kind]);
    if (m === null) {
      tt.fail(`could not mount ${kind}`);
      return null;
    }
    mounts.set(kind, m);
    mnt = m;
  }
  const dir = fs.mkdtempSync(path.join(mnt, `${label}-`));
  tt.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------
// Observations, printed as a table at the end

interface Observation {
  what: string;
  fs: string;
  mode: string;
  status: number | null;
  method: string;
  shared: number | null;
  alloc: number | null;
  srcAlloc: number | null;
}
const observations: Observation[] = [];

/** The method part of a -v line: what comes after the size, without the timing. */
function methodOf(stdout: string): string {
  const line = stdout.trim().split('\n').pop() ?? '';
  const m = /^'.*' -> '.*': [^,]+, (.*?)(?:, [\d.]+ (?:ms|s|min \d+ s))(?:, [\d.]+ \w+\/s)?$/.exec(line);
  return m ? m[1]! : line;
}

function observe(o: Partial<Observation> & { what: string; fs: string; mode: string }, r: RunResult, src?: string, dst?: string): void {
  const exists = dst !== undefined && fs.existsSync(dst);
  observations.push({
    status: r.status,
    method: r.status === 0 ? methodOf(r.stdout) : `(exit ${r.status}) ${r.stderr.trim()}`,
    shared: exists ? sharedBytes(dst!) : null,
    alloc: exists ? allocatedBytes(dst!) : null,
    srcAlloc: src !== undefined && fs.existsSync(src) ? allocatedBytes(src) : null,
    ...o,
  });
}

// ---------------------------------------------------------------------------------------
// Assertion helpers

function why(r: RunResult): string {
  return r.status === 0 ? '' : ` (exit ${r.status}, signal ${r.signal}, stderr: ${JSON.stringify(r.stderr.trim())})`;
}

/** Exit 0 and nothing on stderr. */
function succeeded(tt: Test, r: RunResult, msg: string): void {
  tt.equal(r.status, 0, `${msg}: exit 0${why(r)}`);
  tt.equal(r.stderr, '', `${msg}: empty stderr`);
}

/** sha256 of sparse SOURCEs, which never change once written (64 MiB each to read). */
const sourceSha = new Map<string, string>();

function sameBytes(tt: Test, a: string, b: string, msg: string, srcSha?: string): void {
  tt.ok(fs.existsSync(b), `${msg}: ${path.basename(b)} exists`);
  if (!fs.existsSync(b)) return;
  tt.equal(fs.statSync(b).size, fs.statSync(a).size, `${msg}: same size`);
  tt.equal(sha256(b), srcSha ?? sha256(a), `${msg}: same bytes (sha256)`);
}

function noTemps(tt: Test, dir: string, msg: string): void {
  tt.same(
    fs.readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX)),
    [],
    `${msg}: no ${TEMP_PREFIX}* temporary file left in ${path.basename(dir)}`,
  );
}

function listing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

/** `shared` is the size of the data, give or take the partial last block. */
function sharesAbout(tt: Test, shared: number, data: number, msg: string): void {
  tt.ok(Math.abs(shared - data) < 64 * K, `${msg}: ${shared} bytes shared, about the ${data} bytes of data`);
}

function allocClose(tt: Test, src: string, dst: string, msg: string): void {
  const a = allocatedBytes(src);
  const b = allocatedBytes(dst);
  tt.ok(Math.abs(b - a) <= ALLOC_SLACK, `${msg}: DEST allocates ${b} bytes, SOURCE ${a} (within ${ALLOC_SLACK})`);
}

/** The one line tscp prints when a reflink cannot be made. */
function reflinkError(src: string, dst: string, code: 'EOPNOTSUPP' | 'EXDEV'): string {
  const text = code === 'EXDEV' ? 'Invalid cross-device link' : 'Operation not supported';
  return `tscp: cannot reflink '${src}' to '${dst}': ${text} (${code})\n`;
}

/** Run the binary with a given umask (a umask can only be set by the process itself). */
function tscpWithUmask(umask: string, args: string[]): RunResult {
  runs.count++;
  const r = spawnSync('sh', ['-c', `umask ${umask}; exec "$0" "$@"`, process.execPath, BIN, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Write the same random bytes to two files independently (no copy_file_range, no sharing). */
function writeTwins(a: string, b: string, size: number): Buffer {
  const data = randomBytes(size);
  fs.writeFileSync(a, data);
  fs.writeFileSync(b, data);
  return data;
}

/** A single-byte change in place, at `offset`. */
function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0] = b[0]! ^ 0xff;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

// ---------------------------------------------------------------------------------------
// Sparse shapes: 64 MiB apparent, a few MiB of data

interface SparseShape {
  name: string;
  size: number;
  data: [number, number][];
}
const SPARSE_SHAPES: SparseShape[] = [
  { name: 'data at start, middle and end', size: 64 * M, data: [[0, M], [32 * M, M], [63 * M, M]] },
  { name: 'ends in a hole', size: 64 * M, data: [[0, M], [20 * M, M], [40 * M, M]] },
  { name: 'unaligned size, data to the last byte', size: 64 * M + 777, data: [[0, M], [32 * M, M], [63 * M, M + 777]] },
  { name: 'all hole', size: 16 * M, data: [] },
];
const dataBytes = (s: SparseShape) => s.data.reduce((n, [, l]) => n + l, 0);

// =======================================================================================
// 1. Default mode (auto), whole file

for (const kind of ALL_FS) {
  t.test(`auto (default) whole-file copy on ${kind}`, async (t) => {
    const dir = workDir(t, kind, 'auto');
    if (!dir) return;
    const src = path.join(dir, 'src');
    writeRandom(src, WHOLE_SIZE);

    const quiet = path.join(dir, 'quiet');
    const r0 = tscp([src, quiet]);
    succeeded(t, r0, 'without -v');
    t.equal(r0.stdout, '', 'without -v: nothing on stdout');
    sameBytes(t, src, quiet, 'without -v');

    const dst = path.join(dir, 'dst');
    const r = tscp(['-v', src, dst]);
    succeeded(t, r, '-v');
    sameBytes(t, src, dst, '-v');
    const shared = sharedBytes(dst);
    if (isReflinkFs(kind)) {
      sharesAbout(t, shared, WHOLE_SIZE, 'DEST shares extents with SOURCE');
      sharesAbout(t, sharedBytes(src), WHOLE_SIZE, 'SOURCE is shared too');
      t.match(r.stdout, /reflinked/, '-v says reflinked');
      t.notMatch(r.stdout, /refused/, '-v reports no refusal');
    } else {
      t.equal(shared, 0, 'nothing shared');
      t.match(r.stdout, /reflink was refused \(EOPNOTSUPP\)/, '-v reports the EOPNOTSUPP refusal of the reflink');
      t.match(r.stdout, /copied in-kernel/, '-v says the bytes were copied in the kernel');
      t.notMatch(r.stdout, /reflinked/, '-v does not claim a reflink');
    }
    noTemps(t, dir, 'after auto');
    observe({ what: 'whole file', fs: kind, mode: 'auto' }, r, src, dst);
  });
}

// =======================================================================================
// 2. --reflink=always (and bare --reflink)

for (const kind of ALL_FS) {
  t.test(`--reflink=always on ${kind}`, async (t) => {
    const dir = workDir(t, kind, 'always');
    if (!dir) return;
    const src = path.join(dir, 'src');
    writeRandom(src, WHOLE_SIZE);

    for (const flag of ['--reflink=always', '--reflink']) {
      const fresh = path.join(dir, `new${flag.length}`);
      const before = listing(dir);
      const r1 = tscp(['-v', flag, src, fresh]);
      if (isReflinkFs(kind)) {
        succeeded(t, r1, `${flag}, new DEST`);
        sameBytes(t, src, fresh, `${flag}, new DEST`);
        sharesAbout(t, sharedBytes(fresh), WHOLE_SIZE, `${flag}, new DEST shares extents`);
        t.match(r1.stdout, /reflinked/, `${flag}: -v says reflinked`);
      } else {
        t.equal(r1.status, 1, `${flag}, new DEST: exit 1`);
        t.equal(r1.stderr, reflinkError(src, fresh, 'EOPNOTSUPP'), `${flag}, new DEST: exactly one line naming EOPNOTSUPP`);
        t.notOk(fs.existsSync(fresh), `${flag}: a DEST that did not exist still does not`);
        t.same(listing(dir), before, `${flag}: nothing new in DEST's directory`);
      }
      observe({ what: 'whole file', fs: kind, mode: flag }, r1, src, fresh);
      noTemps(t, dir, flag);
      if (flag === '--reflink') continue; // the existing-DEST case once is enough

      const existing = path.join(dir, 'old');
      writeRandom(existing, 5 * M); // larger than SOURCE
      const existingSha = sha256(existing);
      const before2 = listing(dir);
      const r2 = tscp(['-v', flag, src, existing]);
      if (isReflinkFs(kind)) {
        succeeded(t, r2, `${flag}, existing larger DEST`);
        sameBytes(t, src, existing, `${flag}, existing larger DEST replaced and truncated`);
        sharesAbout(t, sharedBytes(existing), WHOLE_SIZE, `${flag}, existing DEST shares extents`);
      } else {
        t.equal(r2.status, 1, `${flag}, existing DEST: exit 1`);
        t.equal(r2.stderr, reflinkError(src, existing, 'EOPNOTSUPP'), `${flag}, existing DEST: exactly one line naming EOPNOTSUPP`);
        t.equal(fs.statSync(existing).size, 5 * M, `${flag}: existing DEST keeps its size`);
        t.equal(sha256(existing), existingSha, `${flag}: existing DEST keeps its exact bytes`);
        t.same(listing(dir), before2, `${flag}, existing DEST: nothing new in DEST's directory`);
      }
      noTemps(t, dir, flag);
    }
  });
}

// =======================================================================================
// 3. --reflink=never and --copy

for (const kind of ALL_FS) {
  t.test(`--reflink=never and --copy on ${kind}`, async (t) => {
    const dir = workDir(t, kind, 'never');
    if (!dir) return;
    const src = path.join(dir, 'src');
    writeRandom(src, WHOLE_SIZE);
    t.equal(sharedBytes(src), 0, 'SOURCE shares nothing to begin with');

    for (const flag of ['--reflink=never', '--copy']) {
      const dst = path.join(dir, flag.replace(/\W/g, ''));
      const r = tscp(['-v', flag, src, dst]);
      succeeded(t, r, flag);
      sameBytes(t, src, dst, flag);
      t.equal(sharedBytes(dst), 0, `${flag}: DEST shares no extent`);
      t.equal(sharedBytes(src), 0, `${flag}: SOURCE still shares no extent`);
      t.notMatch(r.stdout, /reflinked/, `${flag}: -v does not say reflinked`);
      t.notMatch(r.stdout, /refused/, `${flag}: no reflink was even tried`);

      observe({ what: 'whole file', fs: kind, mode: flag }, r, src, dst);
      if (flag === '--copy') continue;
      // Over an existing, larger DEST too.
      const old = path.join(dir, `${flag.replace(/\W/g, '')}-old`);
      writeRandom(old, 5 * M);
      const r2 = tscp([flag, src, old]);
      succeeded(t, r2, `${flag} over a larger DEST`);
      sameBytes(t, src, old, `${flag} over a larger DEST`);
      t.equal(sharedBytes(old), 0, `${flag} over a larger DEST: shares no extent`);
      noTemps(t, dir, flag);
    }
  });
}

// =======================================================================================
// 4. Across filesystems

const CROSS: [FsKind, FsKind][] = [
  ['ext4', 'xfs'],
  ['xfs', 'tmpfs'],
  ['btrfs', 'ext4'],
];

for (const [from, to] of CROSS) {
  t.test(`across filesystems: ${from} -> ${to}`, async (t) => {
    const sdir = workDir(t, from, 'xsrc');
    const ddir = sdir && workDir(t, to, 'xdst');
    if (!sdir || !ddir) return;
    const src = path.join(sdir, 'src');
    writeRandom(src, WHOLE_SIZE);

    const dst = path.join(ddir, 'auto');
    const r = tscp(['-v', src, dst]);
    succeeded(t, r, 'auto');
    sameBytes(t, src, dst, 'auto');
    t.equal(sharedBytes(dst), 0, 'auto: nothing shared across filesystems');
    t.match(r.stdout, /reflink was refused \(EXDEV\)/, 'auto -v: the reflink was refused with EXDEV');
    t.match(r.stdout, /copy_file_range was refused \(EXDEV\)/, 'auto -v: copy_file_range was refused with EXDEV');
    t.notMatch(r.stdout, /reflinked/, 'auto -v: nothing claimed reflinked');
    observe({ what: 'whole file', fs: `${from}->${to}`, mode: 'auto' }, r, src, dst);

    for (const flag of ['--reflink=never', '--copy']) {
      const d = path.join(ddir, flag.replace(/\W/g, ''));
      const rn = tscp(['-v', flag, src, d]);
      succeeded(t, rn, flag);
      sameBytes(t, src, d, flag);
      t.equal(sharedBytes(d), 0, `${flag}: nothing shared`);
      observe({ what: 'whole file', fs: `${from}->${to}`, mode: flag }, rn, src, d);
    }

    for (const flag of ['--reflink=always', '--reflink']) {
      const fresh = path.join(ddir, `always-new${flag.length}`);
      const existing = path.join(ddir, `always-old${flag.length}`);
      writeRandom(existing, 100 * K);
      const existingSha = sha256(existing);
      const before = listing(ddir);
      const r1 = tscp(['-v', flag, src, fresh]);
      t.equal(r1.status, 1, `${flag}, new DEST: exit 1`);
      t.equal(r1.stderr, reflinkError(src, fresh, 'EXDEV'), `${flag}, new DEST: exactly one line naming EXDEV`);
      t.notOk(fs.existsSync(fresh), `${flag}: a DEST that did not exist still does not`);
      observe({ what: 'whole file', fs: `${from}->${to}`, mode: flag }, r1, src, fresh);
      if (flag === '--reflink') continue;
      const r2 = tscp([flag, src, existing]);
      t.equal(r2.status, 1, `${flag}, existing DEST: exit 1`);
      t.equal(r2.stderr, reflinkError(src, existing, 'EXDEV'), `${flag}, existing DEST: exactly one line naming EXDEV`);
      t.equal(sha256(existing), existingSha, `${flag}: existing DEST keeps its exact bytes`);
      t.same(listing(ddir), before, `${flag}: nothing new left behind`);
    }
    noTemps(t, ddir, 'across filesystems');
  });
}

// =======================================================================================
// 5. Sparse SOURCE, every mode, every filesystem, and across filesystems

function sparseCase(t: Test, kind: string, sdir: string, ddir: string, shape: SparseShape, flags: string[], reflinks: boolean): void {
  const tag = shape.name.replace(/\W+/g, '-');
  const src = path.join(sdir, `sparse-${tag}`);
  if (!fs.existsSync(src)) {
    writeSparse(src, shape.size, shape.data);
    sourceSha.set(src, sha256(src));
  }
  const mode = flags.join(' ') || 'auto';
  const dst = path.join(ddir, `${tag}-${mode.replace(/\W+/g, '')}`);
  const r = tscp(['-v', ...flags, src, dst]);
  const msg = `${shape.name}, ${mode}`;
  succeeded(t, r, msg);
  sameBytes(t, src, dst, msg, sourceSha.get(src));
  if (fs.existsSync(dst)) {
    allocClose(t, src, dst, msg);
    if (reflinks) sharesAbout(t, sharedBytes(dst), dataBytes(shape), `${msg}: the data is shared`);
    else t.equal(sharedBytes(dst), 0, `${msg}: nothing shared`);
  }
  observe({ what: `sparse: ${shape.name}`, fs: kind, mode }, r, src, dst);
}

for (const kind of ALL_FS) {
  t.test(`sparse SOURCE on ${kind}`, async (t) => {
    const dir = workDir(t, kind, 'sparse');
    if (!dir) return;
    for (const shape of SPARSE_SHAPES) {
      sparseCase(t, kind, dir, dir, shape, [], isReflinkFs(kind));
      if (shape.data.length === 0) continue; // all hole: auto only
      sparseCase(t, kind, dir, dir, shape, ['--reflink=never'], false);
      if (isReflinkFs(kind)) sparseCase(t, kind, dir, dir, shape, ['--reflink=always'], true);
    }

    // A fully allocated existing DEST replaced by a sparse SOURCE ends up sparse.
    const shape = SPARSE_SHAPES[0]!;
    const src = path.join(dir, `sparse-${shape.name.replace(/\W+/g, '-')}`);
    for (const flags of [[]]) {
      const old = path.join(dir, `full-old${flags.length}`);
      writeRandom(old, 16 * M);
      const r = tscp([...flags, src, old]);
      succeeded(t, r, `sparse over a fully allocated DEST (${flags.join(' ') || 'auto'})`);
      sameBytes(t, src, old, 'sparse over a fully allocated DEST');
      allocClose(t, src, old, 'sparse over a fully allocated DEST');
    }
    noTemps(t, dir, 'sparse');
  });
}

for (const [from, to] of CROSS) {
  t.test(`sparse SOURCE across filesystems: ${from} -> ${to}`, async (t) => {
    const sdir = workDir(t, from, 'xsparse-src');
    const ddir = sdir && workDir(t, to, 'xsparse-dst');
    if (!sdir || !ddir) return;
    for (const shape of SPARSE_SHAPES.slice(0, 2)) {
      sparseCase(t, `${from}->${to}`, sdir, ddir, shape, [], false);
      sparseCase(t, `${from}->${to}`, sdir, ddir, shape, ['--reflink=never'], false);
    }
    noTemps(t, ddir, 'sparse across filesystems');
  });
}

// =======================================================================================
// 6. --dedupe

for (const kind of REFLINK_FS) {
  t.test(`--dedupe on ${kind}`, async (t) => {
    const dir = workDir(t, kind, 'dedupe');
    if (!dir) return;

    for (const size of [3 * M, 100_000]) {
      const a = path.join(dir, `a${size}`);
      const b = path.join(dir, `b${size}`);
      writeTwins(a, b, size);
      const sha = sha256(a);
      t.equal(sharedBytes(a), 0, `${size} B: SOURCE not shared before`);
      t.equal(sharedBytes(b), 0, `${size} B: DEST not shared before`);
      const r = tscp(['-v', '--dedupe', a, b]);
      succeeded(t, r, `identical ${size} B files`);
      t.equal(sha256(a), sha, `${size} B: SOURCE bytes unchanged`);
      t.equal(sha256(b), sha, `${size} B: DEST bytes unchanged`);
      sharesAbout(t, sharedBytes(b), size, `${size} B: DEST shares extents afterwards`);
      sharesAbout(t, sharedBytes(a), size, `${size} B: SOURCE shares extents afterwards`);
      t.match(r.stdout, /deduplicated/, `${size} B: -v says deduplicated`);
      observe({ what: `identical ${size} B`, fs: kind, mode: '--dedupe' }, r, a, b);
    }

    // One byte changed in the middle; and one changed in the partial last block. Every
    // other block is shared all the same (the block holding the byte is not).
    for (const [name, size, at, shared] of [
      ['middle byte differs', 3 * M, 3 * M / 2, 3 * M - 4 * K],
      ['last byte (partial block) differs', 100_000, 99_999, 100_000 - (100_000 % (4 * K))],
    ] as const) {
      const a = path.join(dir, `da-${at}`);
      const b = path.join(dir, `db-${at}`);
      writeTwins(a, b, size);
      flipByte(b, at);
      const shaA = sha256(a);
      const shaB = sha256(b);
      const r = tscp(['-v', '--dedupe', a, b]);
      t.equal(r.status, 3, `${name}: exit 3${why(r)}`);
      t.match(r.stderr, /^tscp: cannot dedupe [^\n]*\n$/, `${name}: one line starting 'tscp: cannot dedupe'`);
      t.equal(sha256(a), shaA, `${name}: SOURCE bytes unchanged`);
      t.equal(sha256(b), shaB, `${name}: DEST bytes unchanged`);
      t.equal(sharedBytes(b), shared, `${name}: every other block shared (filefrag)`);
      t.match(r.stdout, new RegExp(`1 byte differs in 1 range: \\[${at}, \\+1\\), .*, exit 3\n$`), `${name}: -v names the byte`);
      observe({ what: name, fs: kind, mode: '--dedupe' }, r, a, b);
    }

    {
      const a = path.join(dir, 'size-a');
      const b = path.join(dir, 'size-b');
      const data = randomBytes(2 * M);
      fs.writeFileSync(a, data);
      fs.writeFileSync(b, data.subarray(0, M));
      const shaA = sha256(a);
      const shaB = sha256(b);
      const r = tscp(['--dedupe', a, b]);
      t.equal(r.status, 3, `different sizes: exit 3${why(r)}`);
      t.match(r.stderr, /^tscp: cannot dedupe [^\n]*\n$/, 'different sizes: one line');
      t.equal(sha256(a), shaA, 'different sizes: SOURCE unchanged');
      t.equal(sha256(b), shaB, 'different sizes: DEST unchanged');
      t.equal(fs.statSync(b).size, M, 'different sizes: DEST keeps its size');
      t.equal(sharedBytes(b), M, 'different sizes: the common part shared (filefrag)');
      observe({ what: 'different sizes', fs: kind, mode: '--dedupe' }, r, a, b);

      // A range past DEST's end names bytes DEST does not have: an invalid request
      // (EINVAL, exit 1, as the kernel's own answer), not "contents differ" (exit 3).
      const past = tscp(['--dedupe', '--json', '-s', '0', '-d', '0', '-l', String(2 * M), a, b]);
      t.equal(past.status, 1, `range past DEST's end: exit 1${why(past)}`);
      t.match(past.stderr, /^tscp: cannot dedupe [^\n]*past the end of DEST[^\n]*\(EINVAL\)\n$/, "range past DEST's end: one line, EINVAL");
      t.match(JSON.parse(past.stdout), { exitCode: 1, error: { kind: 'usage', code: 'EINVAL' } }, "range past DEST's end: --json says EINVAL");
      t.equal(sha256(b), shaB, "range past DEST's end: DEST unchanged");
    }

    {
      const a = path.join(dir, 'lonely');
      writeRandom(a, M);
      const missing = path.join(dir, 'missing');
      const r = tscp(['--dedupe', a, missing]);
      t.equal(r.status, 1, `DEST missing: exit 1${why(r)}`);
      t.match(r.stderr, /^tscp: cannot dedupe .*\(ENOENT\)\n$/, 'DEST missing: one line naming ENOENT');
      t.notOk(fs.existsSync(missing), 'DEST missing: not created');
    }
    noTemps(t, dir, 'dedupe');
  });
}

for (const kind of ALL_FS.filter((k) => !isReflinkFs(k))) {
  t.test(`--dedupe on ${kind} (no shared extents)`, async (t) => {
    const dir = workDir(t, kind, 'dedupe');
    if (!dir) return;
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    writeTwins(a, b, 3 * M);
    const sha = sha256(a);
    const r = tscp(['-v', '--dedupe', a, b]);
    t.equal(r.status, 1, `identical files: exit 1${why(r)}`);
    t.equal(r.stderr, `tscp: cannot dedupe '${a}' to '${b}': Operation not supported (EOPNOTSUPP)\n`, 'one line naming EOPNOTSUPP');
    t.equal(sha256(a), sha, 'SOURCE unchanged');
    t.equal(sha256(b), sha, 'DEST unchanged');
    observe({ what: 'identical 3 MiB', fs: kind, mode: '--dedupe' }, r, a, b);

    const missing = path.join(dir, 'missing');
    const r2 = tscp(['--dedupe', a, missing]);
    t.equal(r2.status, 1, `DEST missing: exit 1${why(r2)}`);
    t.match(r2.stderr, /\(ENOENT\)\n$/, 'DEST missing: ENOENT');
    t.notOk(fs.existsSync(missing), 'DEST missing: not created');
    noTemps(t, dir, 'dedupe');
  });
}

// =======================================================================================
// 7. Destinations: overwrite, mode and umask, into a directory, the same file.
// Every mode's overwrite and umask cases run on every filesystem (each mode writes DEST its
// own way). The cases that only exercise path and stat logic (symlink DEST, other umasks,
// DIR/, the five same-file forms) run in full on one reflink and one copying filesystem,
// and in their basic form elsewhere: every run of the binary costs ~0.45 s under tap.

const FULL_DEST_FS: FsKind[] = ['xfs', 'ext4'];

for (const kind of ALL_FS) {
  t.test(`destinations on ${kind}`, async (t) => {
    const dir = workDir(t, kind, 'dest');
    if (!dir) return;
    const src = path.join(dir, 'src');
    writeRandom(src, 300 * K + 5);
    fs.chmodSync(src, 0o666);
    const srcSha = sha256(src);

    const modes: string[][] = [[], ['--copy'], ...(isReflinkFs(kind) ? [['--reflink=always']] : [])];
    for (const flags of modes) {
      const m = flags.join(' ') || 'auto';
      // Larger existing DEST: truncated to SOURCE's size.
      const big = path.join(dir, `big${flags.length}${m.length}`);
      writeRandom(big, 2 * M);
      fs.chmodSync(big, 0o600);
      const r1 = tscp([...flags, src, big]);
      succeeded(t, r1, `${m}: over a larger DEST`);
      sameBytes(t, src, big, `${m}: over a larger DEST`);
      t.equal(fs.statSync(big).mode & 0o7777, 0o600, `${m}: an existing DEST keeps its own mode`);
      if (flags.length > 0 || !FULL_DEST_FS.includes(kind)) continue; // the rest: auto, full filesystems
      // Smaller existing DEST.
      const small = path.join(dir, `small${flags.length}${m.length}`);
      fs.writeFileSync(small, 'x');
      const r2 = tscp([...flags, src, small]);
      succeeded(t, r2, `${m}: over a smaller DEST`);
      sameBytes(t, src, small, `${m}: over a smaller DEST`);
      // A symlink DEST: the file it points to gets the bytes, the link stays a link.
      const target = path.join(dir, `target${flags.length}${m.length}`);
      const link = path.join(dir, `link${flags.length}${m.length}`);
      fs.writeFileSync(target, 'old');
      fs.symlinkSync(path.basename(target), link);
      const r3 = tscp([...flags, src, link]);
      succeeded(t, r3, `${m}: through a symlink DEST`);
      t.ok(fs.lstatSync(link).isSymbolicLink(), `${m}: the symlink is still a symlink`);
      sameBytes(t, src, target, `${m}: the symlink's target got the bytes`);
    }

    // New DEST: SOURCE's mode & ~umask.
    for (const [srcMode, umask, want] of [
      [0o666, '027', 0o640],
      [0o755, '022', 0o755],
      [0o640, '077', 0o600],
    ] as const) {
      if (umask !== '027' && !FULL_DEST_FS.includes(kind)) continue;
      for (const flags of umask === '027' ? modes : [[]]) {
        fs.chmodSync(src, srcMode);
        const dst = path.join(dir, `mode-${srcMode.toString(8)}-${umask}-${flags.length}${(flags[0] ?? '').length}`);
        const r = tscpWithUmask(umask, [...flags, src, dst]);
        succeeded(t, r, `umask ${umask}`);
        if (fs.existsSync(dst)) {
          t.equal(
            (fs.statSync(dst).mode & 0o7777).toString(8),
            want.toString(8),
            `new DEST from a ${srcMode.toString(8)} SOURCE under umask ${umask} (${flags.join(' ') || 'auto'}): mode ${want.toString(8)}`,
          );
        }
      }
    }
    fs.chmodSync(src, 0o644);

    // Into a directory, with and without a trailing slash.
    const into = path.join(dir, 'into');
    fs.mkdirSync(into);
    const r4 = tscp([src, into]);
    succeeded(t, r4, 'SRC DIR');
    sameBytes(t, src, path.join(into, 'src'), 'SRC DIR writes DIR/basename(SRC)');
    t.same(listing(into), ['src'], 'SRC DIR: only DIR/basename(SRC) is created');
    if (FULL_DEST_FS.includes(kind)) {
      const into2 = path.join(dir, 'into2');
      fs.mkdirSync(into2);
      const r5 = tscp(['--copy', src, `${into2}/`]);
      succeeded(t, r5, 'SRC DIR/');
      sameBytes(t, src, path.join(into2, 'src'), 'SRC DIR/ writes DIR/basename(SRC)');
      t.same(listing(into2), ['src'], 'SRC DIR/: only DIR/basename(SRC) is created');
    }

    // The same file: same path, hard link, symlink either way, and the directory form.
    const hard = path.join(dir, 'hard');
    fs.linkSync(src, hard);
    const sym = path.join(dir, 'sym');
    fs.symlinkSync('src', sym);
    const cases: [string, string[]][] = [
      ['same path', [src, src]],
      ['hard link', [src, hard]],
      ['symlink DEST', [src, sym]],
      ['symlink SOURCE', [sym, src]],
      ['DIR holding SOURCE', [src, dir]],
    ];
    for (const [name, args] of FULL_DEST_FS.includes(kind) ? cases : cases.filter(([n]) => n === 'hard link')) {
      for (const flags of name === 'same path' || name === 'hard link' ? modes : [[]]) {
        const r = tscp([...flags, ...args]);
        const m = `${name} (${flags.join(' ') || 'auto'})`;
        t.equal(r.status, 1, `${m}: exit 1${why(r)}`);
        t.match(r.stderr, /are the same file/, `${m}: 'are the same file'`);
        t.equal(r.stderr.split('\n').length, 2, `${m}: one line`);
        t.equal(sha256(src), srcSha, `${m}: bytes untouched`);
        t.equal(fs.statSync(src).size, 300 * K + 5, `${m}: size untouched`);
      }
    }
    t.ok(fs.lstatSync(sym).isSymbolicLink(), 'the symlink is still a symlink');
    t.equal(fs.statSync(src).nlink, 2, 'the hard link still links SOURCE');
    noTemps(t, dir, 'destinations');
  });
}

// =======================================================================================
// 8. No temporary file after a failure that happens mid-copy (ENOSPC on a tiny tmpfs)

t.test('ENOSPC mid-copy leaves no temporary file and DEST as it was', async (t) => {
  const sdir = workDir(t, 'xfs', 'enospc-src');
  if (!sdir || !mayRun(t, cannotMountReason('tmpfs'))) return;
  const tiny = mountFs(t, 'tmpfs', 2);
  if (!tiny) return;
  const src = path.join(sdir, 'src');
  writeRandom(src, 3 * M);
  const keep = path.join(tiny, 'keep');
  fs.writeFileSync(keep, 'keep me\n');
  for (const flags of [[], ['--copy']]) {
    const m = flags.join(' ') || 'auto';
    const fresh = path.join(tiny, 'fresh');
    const r1 = tscp([...flags, src, fresh]);
    t.equal(r1.status, 1, `${m}, new DEST: exit 1${why(r1)}`);
    t.match(r1.stderr, /^tscp: cannot copy .*\(ENOSPC\)/, `${m}: names ENOSPC`);
    t.equal(r1.stderr.split('\n').length, 2, `${m}: one line`);
    t.notOk(fs.existsSync(fresh), `${m}: new DEST not created`);
    const r2 = tscp([...flags, src, keep]);
    t.equal(r2.status, 1, `${m}, existing DEST: exit 1${why(r2)}`);
    t.equal(fs.readFileSync(keep, 'utf8'), 'keep me\n', `${m}: existing DEST keeps its bytes`);
    t.same(listing(tiny), ['keep'], `${m}: nothing else in DEST's directory`);
    noTemps(t, tiny, `${m} ENOSPC`);
    observe({ what: 'ENOSPC mid-copy', fs: 'xfs->tmpfs(2M)', mode: m }, r1, src, fresh);
  }
});

// =======================================================================================
// Edge: an empty SOURCE. A reflink of an empty regular file is an ordinary FICLONE on
// XFS/btrfs (GNU `cp --reflink=always` succeeds there), so --reflink=always must too.

for (const kind of ALL_FS) {
  t.test(`empty SOURCE on ${kind}`, async (t) => {
    const dir = workDir(t, kind, 'empty');
    if (!dir) return;
    const src = path.join(dir, 'empty');
    fs.writeFileSync(src, '');
    for (const flags of [[]]) {
      const dst = path.join(dir, `out${flags.length}`);
      const r = tscp(['-v', ...flags, src, dst]);
      succeeded(t, r, `${flags.join(' ') || 'auto'}`);
      sameBytes(t, src, dst, `${flags.join(' ') || 'auto'}`);
      observe({ what: 'empty file', fs: kind, mode: flags.join(' ') || 'auto' }, r, src, dst);
    }
    const dst = path.join(dir, 'always');
    const r = tscp(['-v', '--reflink=always', src, dst]);
    if (isReflinkFs(kind)) {
      succeeded(t, r, '--reflink=always of an empty file on a reflink filesystem');
      sameBytes(t, src, dst, '--reflink=always of an empty file');
    } else {
      t.equal(r.status, 1, `--reflink=always: exit 1${why(r)}`);
      t.equal(r.stderr, reflinkError(src, dst, 'EOPNOTSUPP'), '--reflink=always: EOPNOTSUPP');
      t.notOk(fs.existsSync(dst), '--reflink=always: no DEST');
    }
    observe({ what: 'empty file', fs: kind, mode: '--reflink=always' }, r, src, dst);
    noTemps(t, dir, 'empty');
  });
}

// =======================================================================================
// What was observed, as a table (TAP comments)

for (const kind of REFLINK_FS) {
  t.test(`--inplace over a longer DEST on ${kind}: reflinked, as cp's O_TRUNC then FICLONE`, async (t) => {
    const dir = workDir(t, kind, 'inplace-longer');
    if (!dir) return;
    // An unaligned SOURCE over a longer DEST: a clone onto DEST's old bytes is refused
    // (the partial last block would land inside DEST's data); emptied first, it is not.
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    writeRandom(src, 2500);
    writeRandom(dst, 9000);
    const ino = fs.statSync(dst).ino;
    const r = tscp(['--inplace', '-v', src, dst]);
    succeeded(t, r, '--inplace -v');
    sameBytes(t, src, dst, '--inplace over a longer DEST');
    t.equal(fs.statSync(dst).ino, ino, 'DEST keeps its inode');
    t.match(r.stdout, /, reflinked, /, `-v says reflinked: ${r.stdout.trim()}`);
    t.notMatch(r.stdout, /refused/, 'and names no refusal next to the sharing it reports');
    t.ok(sharedBytes(dst) > 0, 'FIEMAP: DEST shares extents with SOURCE');
  });
}

t.test('observations', async (t) => {
  const rows = observations.map((o) => [
    o.fs,
    o.mode,
    o.what,
    String(o.status),
    o.method,
    o.shared === null ? '-' : String(o.shared),
    o.alloc === null ? '-' : String(o.alloc),
    o.srcAlloc === null ? '-' : String(o.srcAlloc),
  ]);
  const header = ['fs', 'mode', 'case', 'exit', 'method (-v) / error', 'shared', 'alloc', 'src alloc'];
  t.comment(['', header.join(' | '), ...rows.map((r) => r.join(' | '))].join('\n'));
  t.comment(`${runs.count} runs of the binary took ${(runs.ms / 1000).toFixed(1)} s in all`);
  t.pass(`${observations.length} copies observed`);
});
