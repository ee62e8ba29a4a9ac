/**
 * Range copies end to end (-s/--src-offset, -d/--dst-offset, -l/--length): bytes
 * [s, s+l) of SOURCE land at [d, d+l) of DEST, every other byte of DEST stays as it was,
 * DEST grows but never shrinks, and on XFS/btrfs the block-aligned middle is reflinked.
 * Every check compares the whole of DEST with a buffer computed here from the original
 * DEST and SOURCE, so a byte written anywhere it should not be is caught.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import {
  ALL_FS,
  REFLINK_FS,
  allocatedBytes,
  mountFs,
  sha256,
  sharedBytes,
  tscp,
  writeRandom,
  writeSparse,
  type FsKind,
  type RunResult,
} from '../helpers/fs.js';

const K = 1024;
const M = 1024 * 1024;
const BLOCK = 4096;

/** DEST after a correct range copy: `before` (null: DEST was missing) with SOURCE[s, s+l) at d. */
function expected(before: Buffer | null, src: Buffer, s: number, d: number, l: number): Buffer {
  const base = before ?? Buffer.alloc(0);
  const out = Buffer.alloc(Math.max(base.length, d + l));
  base.copy(out);
  src.copy(out, d, s, s + l);
  return out;
}

/** Describe where two buffers first differ, for failure messages. */
function firstDifference(a: Buffer, b: Buffer): string {
  if (a.length !== b.length) return `sizes differ: ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at byte ${i}`;
  return 'equal';
}

function sameBytes(t: Test, file: string, want: Buffer, msg: string): void {
  const got = fs.readFileSync(file);
  t.ok(got.equals(want), `${msg} (${firstDifference(got, want)})`);
}

function ok(t: Test, r: RunResult, msg: string): void {
  t.equal(r.status, 0, `${msg}: exit 0${r.status === 0 ? '' : ` (stderr: ${r.stderr.trim()})`}`);
}

function failsEinval(t: Test, r: RunResult, msg: string): void {
  t.equal(r.status, 1, `${msg}: exit 1`);
  t.match(r.stderr, /^tscp: /, `${msg}: message starts with tscp:`);
  t.match(r.stderr, /EINVAL/, `${msg}: message names EINVAL`);
}

/** Run a range copy and check DEST's bytes against the expected buffer. */
function rangeCase(
  t: Test,
  dir: string,
  name: string,
  opts: { srcSize: number; destSize: number | null; s: number; d: number; l: number; extra?: string[] },
): { src: string; dest: string; want: Buffer } {
  const src = path.join(dir, `${name}.src`);
  const dest = path.join(dir, `${name}.dst`);
  writeRandom(src, opts.srcSize);
  if (opts.destSize !== null) writeRandom(dest, opts.destSize);
  const before = opts.destSize !== null ? fs.readFileSync(dest) : null;
  const srcBytes = fs.readFileSync(src);
  const r = tscp([...(opts.extra ?? []), '-s', String(opts.s), '-d', String(opts.d), '-l', String(opts.l), src, dest]);
  ok(t, r, name);
  const want = expected(before, srcBytes, opts.s, opts.d, opts.l);
  sameBytes(t, dest, want, `${name}: DEST holds the range and nothing else changed`);
  t.same(fs.readFileSync(src).equals(srcBytes), true, `${name}: SOURCE unchanged`);
  return { src, dest, want };
}

for (const kind of ALL_FS) {
  t.test(`range copies on ${kind}`, async (t) => {
    const dir = mountFs(t, kind);
    if (!dir) return;

    t.test('aligned range into existing DEST: data before and after the range unchanged', async (t) => {
      rangeCase(t, dir, 'aligned', { srcSize: 2 * M, destSize: 3 * M, s: 64 * K, d: 1 * M, l: 512 * K });
    });

    t.test('unaligned range with the same misalignment', async (t) => {
      rangeCase(t, dir, 'same-mis', { srcSize: 2 * M, destSize: 3 * M, s: 3 * BLOCK + 100, d: 10 * BLOCK + 100, l: 256 * BLOCK + 7 });
    });

    t.test('unaligned range with different misalignments', async (t) => {
      rangeCase(t, dir, 'diff-mis', { srcSize: 2 * M, destSize: 3 * M, s: 123, d: 4567, l: 300_001 });
    });

    t.test('tiny range inside one block', async (t) => {
      rangeCase(t, dir, 'tiny', { srcSize: 64 * K, destSize: 64 * K, s: 5, d: 9000, l: 3 });
    });

    t.test('range to the end of SOURCE and past the end of DEST (partial tail block)', async (t) => {
      const { dest } = rangeCase(t, dir, 'tail', { srcSize: 1 * M + 333, destSize: 100 * K, s: 64 * K, d: 64 * K, l: 1 * M + 333 - 64 * K });
      t.equal(fs.statSync(dest).size, 1 * M + 333, 'DEST grew to the range end');
    });

    t.test('range to the end of SOURCE ending exactly at, or before, the end of DEST', async (t) => {
      // Partial tail block at both ends of file: the whole range may be cloned.
      const { dest } = rangeCase(t, dir, 'tail-exact', { srcSize: 1 * M + 333, destSize: 1 * M + 333, s: 64 * K, d: 64 * K, l: 1 * M + 333 - 64 * K });
      t.equal(fs.statSync(dest).size, 1 * M + 333, 'DEST keeps its size');
      // DEST goes on past the range: the partial tail block must be copied, not cloned.
      const { dest: dest2 } = rangeCase(t, dir, 'tail-inside', { srcSize: 1 * M + 333, destSize: 3 * M, s: 64 * K, d: 64 * K, l: 1 * M + 333 - 64 * K });
      t.equal(fs.statSync(dest2).size, 3 * M, 'DEST keeps its size');
      rangeCase(t, dir, 'tail-inside-unaligned', { srcSize: 1 * M + 333, destSize: 3 * M, s: 64 * K + 9, d: 128 * K + 9, l: 1 * M + 333 - 64 * K - 9 });
    });

    t.test('default length: the rest of SOURCE after -s', async (t) => {
      const src = path.join(dir, 'deflen.src');
      const dest = path.join(dir, 'deflen.dst');
      writeRandom(src, 200 * K + 1);
      writeRandom(dest, 50 * K);
      const before = fs.readFileSync(dest);
      const r = tscp(['-s', String(8 * K), '-d', String(12 * K), src, dest]);
      ok(t, r, 'default length');
      sameBytes(t, dest, expected(before, fs.readFileSync(src), 8 * K, 12 * K, 200 * K + 1 - 8 * K), 'rest of SOURCE copied');
    });

    t.test('DEST grows when the range ends past its end', async (t) => {
      const { dest } = rangeCase(t, dir, 'grow', { srcSize: 256 * K, destSize: 10 * K, s: 0, d: 8 * K, l: 64 * K });
      t.equal(fs.statSync(dest).size, 72 * K, 'DEST size is d + l');
    });

    t.test('DEST never shrinks', async (t) => {
      const { dest } = rangeCase(t, dir, 'noshrink', { srcSize: 64 * K, destSize: 1 * M + 5, s: 0, d: 0, l: 4 * K });
      t.equal(fs.statSync(dest).size, 1 * M + 5, 'DEST keeps its size');
      const { dest: dest2 } = rangeCase(t, dir, 'noshrink-unaligned', { srcSize: 64 * K, destSize: 1 * M + 5, s: 7, d: 1000, l: 11 });
      t.equal(fs.statSync(dest2).size, 1 * M + 5, 'DEST keeps its size (unaligned)');
      const { dest: dest3 } = rangeCase(t, dir, 'noshrink-zero', { srcSize: 64 * K, destSize: 1 * M + 5, s: 0, d: 4 * K, l: 0 });
      t.equal(fs.statSync(dest3).size, 1 * M + 5, 'DEST keeps its size (zero length)');
    });

    t.test('existing DEST shorter than d: the gap between its end and d reads as zeros', async (t) => {
      for (const [name, s, d, l] of [
        ['gap-aligned', 0, 1 * M, 64 * K],
        ['gap-unaligned', 3, 1 * M + 5, 10_000],
      ] as const) {
        const { dest } = rangeCase(t, dir, name, { srcSize: 128 * K, destSize: 10 * K + 3, s, d, l });
        t.equal(fs.statSync(dest).size, d + l, `${name}: DEST size is d + l`);
      }
    });

    t.test('new DEST with d > 0: the gap reads as zeros and stays a hole', async (t) => {
      for (const [name, s, d, l] of [
        ['new-aligned', 0, 8 * M, 64 * K],
        ['new-unaligned', 100, 8 * M + 100, 64 * K + 1],
      ] as const) {
        const { dest } = rangeCase(t, dir, name, { srcSize: 256 * K, destSize: null, s, d, l });
        t.equal(fs.statSync(dest).size, d + l, `${name}: DEST size is d + l`);
        t.ok(allocatedBytes(dest) <= 1 * M, `${name}: gap before d is a hole (allocated ${allocatedBytes(dest)} bytes for ${l} bytes of data)`);
      }
    });

    t.test('range past the end of SOURCE: EINVAL, nothing written or created', async (t) => {
      const src = path.join(dir, 'pasteof.src');
      const dest = path.join(dir, 'pasteof.dst');
      const missing = path.join(dir, 'pasteof.missing');
      writeRandom(src, 100 * K);
      writeRandom(dest, 200 * K);
      const before = fs.readFileSync(dest);
      const cases: string[][] = [
        ['-s', String(90 * K), '-l', String(20 * K)],
        ['-s', String(100 * K + 1)],
        ['-s', String(200 * K), '-l', '0'],
        ['-l', String(100 * K + 1)],
        ['-s', '0', '-d', String(4 * K), '-l', String(1 * M)],
      ];
      for (const args of cases) {
        failsEinval(t, tscp([...args, src, dest]), `${args.join(' ')} into existing DEST`);
        sameBytes(t, dest, before, `${args.join(' ')}: existing DEST unchanged`);
        failsEinval(t, tscp([...args, src, missing]), `${args.join(' ')} into missing DEST`);
        t.notOk(fs.existsSync(missing), `${args.join(' ')}: missing DEST not created`);
      }
      t.same(fs.readdirSync(dir).filter((f) => f.startsWith('pasteof') || f.startsWith('.tscp')).sort(), ['pasteof.dst', 'pasteof.src'], 'no stray files');
    });

    t.test('one file as SOURCE and DEST', async (t) => {
      const file = path.join(dir, 'self');
      writeRandom(file, 1 * M);
      let before = fs.readFileSync(file);
      // Disjoint, aligned: forward and backward.
      for (const [s, d, l] of [
        [0, 512 * K, 256 * K],
        [768 * K, 4 * K, 128 * K],
        [1000, 700_000, 12_345],
        [100, 1 * M - 50, 100],
        // Adjacent ranges touch but do not overlap.
        [0, 64 * K, 64 * K],
        [128 * K, 64 * K, 64 * K],
        [5, 10, 5],
      ] as const) {
        const r = tscp(['-s', String(s), '-d', String(d), '-l', String(l), file, file]);
        ok(t, r, `disjoint ${s}+${l} -> ${d}`);
        const want = expected(before, before, s, d, l);
        sameBytes(t, file, want, `disjoint ${s}+${l} -> ${d}: bytes`);
        before = fs.readFileSync(file);
      }
      // Overlapping: refused, file unchanged.
      for (const [s, d, l] of [
        [0, 4 * K, 64 * K],
        [64 * K, 0, 64 * K + 1],
        [100, 100, 10],
        [1000, 1001, 5000],
        // Overlapping by a single byte, either way.
        [0, 64 * K - 1, 64 * K],
        [64 * K - 1, 0, 64 * K],
      ] as const) {
        const r = tscp(['-s', String(s), '-d', String(d), '-l', String(l), file, file]);
        failsEinval(t, r, `overlapping ${s}+${l} -> ${d}`);
        sameBytes(t, file, before, `overlapping ${s}+${l} -> ${d}: file unchanged`);
      }
    });

    t.test('sparse SOURCE: a hole over existing DEST data reads as zeros', async (t) => {
      const variants: [string, number, number, string[]][] = [
        ['aligned-auto', 0, 0, []],
        ['aligned-copy', 0, 0, ['--copy']],
        ['shifted-aligned', 64 * K, 128 * K, []],
        ['unaligned-same', 100, 4096 + 100, []],
        ['unaligned-diff', 0, 777, []],
        ['unaligned-diff-copy', 0, 777, ['--copy']],
      ];
      for (const [name, s, d, extra] of variants) {
        const src = path.join(dir, `sparse-${name}.src`);
        const dest = path.join(dir, `sparse-${name}.dst`);
        // Data, a 512 KiB hole, data, and a trailing hole.
        writeSparse(src, 2 * M, [[0, 256 * K], [768 * K, 256 * K]]);
        writeRandom(dest, 3 * M);
        const before = fs.readFileSync(dest);
        const srcBytes = fs.readFileSync(src);
        const l = 2 * M - s;
        const r = tscp([...extra, '-s', String(s), '-d', String(d), '-l', String(l), src, dest]);
        ok(t, r, `sparse ${name}`);
        const want = expected(before, srcBytes, s, d, l);
        sameBytes(t, dest, want, `sparse ${name}: DEST bytes (holes became zeros)`);
        const got = fs.readFileSync(dest);
        const holeStart = d + 256 * K - s;
        t.ok(got.subarray(holeStart, holeStart + 512 * K).every((b) => b === 0), `sparse ${name}: the hole's bytes in DEST are zeros`);
      }
    });

    t.test('sparse SOURCE: holes reaching past the end of a shorter DEST', async (t) => {
      for (const [name, destSize, s, d, l, extra] of [
        // The trailing hole of SOURCE crosses DEST's old end; DEST grows to 2 MiB.
        ['short-dest', 1 * M + 512 * K, 0, 0, 2 * M, []],
        ['short-dest-copy', 1 * M + 512 * K, 0, 0, 2 * M, ['--copy']],
        // The range ends inside a hole of SOURCE (not at its end), past DEST's end.
        ['ends-in-hole', 100 * K, 0, 0, 600 * K, []],
        ['ends-in-hole-unaligned', 100 * K + 1, 1, 2, 600 * K, []],
      ] as const) {
        const src = path.join(dir, `sparse-${name}.src`);
        const dest = path.join(dir, `sparse-${name}.dst`);
        writeSparse(src, 2 * M, [[0, 256 * K], [768 * K, 256 * K]]);
        writeRandom(dest, destSize);
        const before = fs.readFileSync(dest);
        const srcBytes = fs.readFileSync(src);
        const r = tscp([...extra, '-s', String(s), '-d', String(d), '-l', String(l), src, dest]);
        ok(t, r, `sparse ${name}`);
        sameBytes(t, dest, expected(before, srcBytes, s, d, l), `sparse ${name}: DEST bytes`);
      }
    });

    t.test('one file reached through a symlink is still one file', async (t) => {
      const file = path.join(dir, 'linked');
      const link = path.join(dir, 'linked.lnk');
      writeRandom(file, 256 * K);
      fs.symlinkSync(file, link);
      const before = fs.readFileSync(file);
      failsEinval(t, tscp(['-s', '0', '-d', '4096', '-l', String(64 * K), file, link]), 'overlapping via symlink');
      sameBytes(t, file, before, 'file unchanged');
      ok(t, tscp(['-s', '0', '-d', String(128 * K), '-l', String(64 * K), link, file]), 'disjoint via symlink');
      sameBytes(t, file, expected(before, before, 0, 128 * K, 64 * K), 'disjoint via symlink: bytes');
    });

    if (!REFLINK_FS.includes(kind)) {
      t.test('--reflink=always on a filesystem without reflink fails and removes a DEST it created', async (t) => {
        const src = path.join(dir, 'noreflink.src');
        const dest = path.join(dir, 'noreflink.dst');
        writeRandom(src, 256 * K);
        const r = tscp(['--reflink=always', '-s', '0', '-d', '0', '-l', String(64 * K), src, dest]);
        t.equal(r.status, 1, 'exit 1');
        t.match(r.stderr, /^tscp: cannot reflink/, 'says it cannot reflink');
        t.notOk(fs.existsSync(dest), 'created DEST removed');
      });
    }
  });
}

for (const kind of REFLINK_FS) {
  t.test(`reflinked ranges on ${kind}`, async (t) => {
    const dir = mountFs(t, kind);
    if (!dir) return;

    t.test('aligned range in auto mode is shared whole', async (t) => {
      const l = 1 * M;
      const { dest } = rangeCase(t, dir, 'share-aligned', { srcSize: 4 * M, destSize: 4 * M, s: 1 * M, d: 2 * M, l });
      const shared = sharedBytes(dest);
      t.ok(shared >= l && shared <= l + 2 * BLOCK, `shared bytes ${shared} ≈ ${l}`);
    });

    t.test('same misalignment: the aligned middle is reflinked, the edges copied', async (t) => {
      const s = 3 * BLOCK + 100;
      const d = 10 * BLOCK + 100;
      const l = 256 * BLOCK + 7;
      const head = BLOCK - 100;
      const middle = Math.floor((l - head) / BLOCK) * BLOCK;
      const { dest } = rangeCase(t, dir, 'share-middle', { srcSize: 4 * M, destSize: 4 * M, s, d, l });
      const shared = sharedBytes(dest);
      t.ok(shared >= middle && shared <= middle + 2 * BLOCK, `shared bytes ${shared} ≈ middle ${middle}`);
      const r = tscp(['-v', '-s', String(s), '-d', String(d), '-l', String(l), path.join(dir, 'share-middle.src'), path.join(dir, 'share-middle2.dst')]);
      ok(t, r, 'verbose run');
      t.match(r.stdout, /reflinked/, `-v reports reflinked bytes: ${r.stdout.trim()}`);
    });

    t.test('different misalignment: nothing can be shared, bytes still right', async (t) => {
      const { dest } = rangeCase(t, dir, 'share-none', { srcSize: 4 * M, destSize: 4 * M, s: 100, d: 200, l: 2 * M });
      t.ok(sharedBytes(dest) <= 2 * BLOCK, `shared bytes ${sharedBytes(dest)} ~ 0`);
    });

    t.test('--reflink=always aligned succeeds and shares', async (t) => {
      const l = 512 * K;
      const { dest } = rangeCase(t, dir, 'always-aligned', { srcSize: 2 * M, destSize: null, s: 256 * K, d: 0, l, extra: ['--reflink=always'] });
      t.ok(sharedBytes(dest) >= l, `shared bytes ${sharedBytes(dest)} >= ${l}`);
    });

    t.test('--reflink=always unaligned fails EINVAL naming the block size', async (t) => {
      const src = path.join(dir, 'always-unaligned.src');
      const dest = path.join(dir, 'always-unaligned.dst');
      const missing = path.join(dir, 'always-unaligned.missing');
      writeRandom(src, 2 * M);
      writeRandom(dest, 1 * M);
      const before = fs.readFileSync(dest);
      for (const [s, d, l] of [
        [100, 100, 64 * K],
        [0, 100, 64 * K],
        [4096, 8192, 1000],
      ] as const) {
        const args = ['--reflink=always', '-s', String(s), '-d', String(d), '-l', String(l)];
        let r = tscp([...args, src, dest]);
        failsEinval(t, r, `${s}+${l} -> ${d} into existing DEST`);
        t.match(r.stderr, /4096/, 'message names the block size 4096');
        sameBytes(t, dest, before, 'existing DEST unchanged');
        r = tscp([...args, src, missing]);
        failsEinval(t, r, `${s}+${l} -> ${d} into missing DEST`);
        t.match(r.stderr, /4096/, 'message names the block size 4096');
        t.notOk(fs.existsSync(missing), 'DEST it created is removed');
      }
      // Bare --reflink means always.
      const r = tscp(['--reflink', '-s', '1', '-l', '4096', src, missing]);
      failsEinval(t, r, 'bare --reflink unaligned');
      t.notOk(fs.existsSync(missing), 'DEST it created is removed (bare --reflink)');
    });

    t.test('a range of more than 1 GiB is reflinked in chunks, landing in the right place', async (t) => {
      // Sparse, so the images stay small: data straddles the 1 GiB and 2 GiB chunk edges.
      const src = path.join(dir, 'huge.src');
      const dest = path.join(dir, 'huge.dst');
      const size = 2 * 1024 * M + 512 * M + 333;
      const data: [number, number][] = [
        [0, 1 * M],
        [1024 * M - 8 * K, 16 * K],
        [2048 * M - 4 * K + 100, 1 * M],
        [size - 2 * M, 2 * M],
      ];
      writeSparse(src, size, data);
      writeRandom(dest, 3 * M);
      const before = fs.readFileSync(dest);
      const s = 100;
      const d = 4096 + 100;
      const l = size - s;
      const r = tscp(['-v', '-s', String(s), '-d', String(d), '-l', String(l), src, dest]);
      ok(t, r, 'huge range');
      t.match(r.stdout, /reflinked/, `reflinked: ${r.stdout.trim()}`);
      t.equal(fs.statSync(dest).size, d + l, 'DEST size is d + l');
      const got = Buffer.alloc(d);
      const fd = fs.openSync(dest, 'r');
      fs.readSync(fd, got, 0, d, 0);
      t.ok(got.equals(before.subarray(0, d)), 'DEST before d unchanged');
      // Each data segment of SOURCE at its shifted place, and the holes around them zeros.
      for (const [off, len] of data) {
        const from = Math.max(s, off - K);
        const want = Buffer.alloc(Math.min(off + len + K, size) - from);
        const srcFd = fs.openSync(src, 'r');
        fs.readSync(srcFd, want, 0, want.length, from);
        fs.closeSync(srcFd);
        const have = Buffer.alloc(want.length);
        fs.readSync(fd, have, 0, have.length, from + d - s);
        t.ok(have.equals(want), `segment at ${off} (+/- 1 KiB) in place`);
      }
      fs.closeSync(fd);
      t.equal(sha256(dest, d, d + l), sha256(src, s, s + l), 'the whole range equal (sha256)');
      const shared = sharedBytes(dest);
      t.ok(shared >= 3 * M && shared <= 5 * M, `shared ${shared} bytes ≈ SOURCE's data`);
    });

    t.test('--copy range shares nothing', async (t) => {
      const { dest } = rangeCase(t, dir, 'copy-aligned', { srcSize: 4 * M, destSize: 2 * M, s: 1 * M, d: 1 * M, l: 2 * M, extra: ['--copy'] });
      t.equal(sharedBytes(dest), 0, 'no shared extents in DEST');
      t.equal(sharedBytes(path.join(dir, 'copy-aligned.src')), 0, 'no shared extents in SOURCE');
      const { dest: dest2 } = rangeCase(t, dir, 'copy-new', { srcSize: 4 * M, destSize: null, s: 0, d: 0, l: 4 * M, extra: ['--reflink=never'] });
      t.equal(sharedBytes(dest2), 0, 'no shared extents in new DEST (--reflink=never)');
    });
  });
}

t.test('cross-filesystem range: ext4 -> xfs and xfs -> ext4', async (t) => {
  const ext4 = mountFs(t, 'ext4');
  const xfs = mountFs(t, 'xfs');
  if (!ext4 || !xfs) return;
  for (const [from, to] of [
    [ext4, xfs],
    [xfs, ext4],
  ] as const) {
    const src = path.join(from, 'cross.src');
    writeRandom(src, 3 * M + 11);
    const srcBytes = fs.readFileSync(src);
    for (const [name, s, d, l, hasDest] of [
      ['aligned-existing', 1 * M, 512 * K, 1 * M, true],
      ['unaligned-existing', 333, 4096 + 333, 2 * M + 5, true],
      ['new-with-gap', 17, 5 * M, 1 * M, false],
    ] as const) {
      const dest = path.join(to, `cross-${name}.dst`);
      if (hasDest) writeRandom(dest, 2 * M);
      const before = hasDest ? fs.readFileSync(dest) : null;
      const r = tscp(['-s', String(s), '-d', String(d), '-l', String(l), src, dest]);
      ok(t, r, `${name} ${from === ext4 ? 'ext4->xfs' : 'xfs->ext4'}`);
      sameBytes(t, dest, expected(before, srcBytes, s, d, l), `${name}: bytes`);
      t.equal(sharedBytes(dest), 0, `${name}: nothing shared across filesystems`);
      fs.rmSync(dest);
    }
  }
  // --reflink=always across filesystems cannot work: EXDEV, DEST not created.
  const src = path.join(ext4, 'cross.src');
  const dest = path.join(xfs, 'cross-always.dst');
  const r = tscp(['--reflink=always', '-s', '0', '-l', String(64 * K), src, dest]);
  t.equal(r.status, 1, '--reflink=always across filesystems: exit 1');
  t.match(r.stderr, /EXDEV|EOPNOTSUPP/, `names why: ${r.stderr.trim()}`);
  t.notOk(fs.existsSync(dest), 'DEST it created is removed');
});
