/**
 * --dedupe shares what is equal, on a real XFS (reflink=1) and btrfs: two files equal but
 * for a few scattered bytes (one in the middle, a run across a block boundary, one in the
 * partial last block) end up sharing every block but the differing ones (FIEMAP, read with
 * filefrag), tscp exits 3, neither file changes (sha256), and --json lists exactly the
 * flipped byte ranges. Also: files of different sizes (the common part is shared, the rest
 * differs), a byte range (differing offsets are SOURCE's), -v listing at most 100 ranges,
 * and identical files (exit 0, all shared).
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, REFLINK_FS, mountFs, sha256, sharedBytes, type FsKind } from '../helpers/fs.js';

const K = 1024;
const M = 1024 * K;
const BLOCK = 4096;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The built binary, without tap's NODE_OPTIONS (its loader would be loaded into tscp too). */
function tscp(args: string[]): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 120_000 });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

interface Report {
  exitCode: number;
  totalBytes: number;
  bytes: { deduplicated: number };
  sharedBytes: number | null;
  differingRanges: { offset: number; length: number }[] | null;
  differingRangeCount: number | null;
  differingBytes: number | null;
  error: { kind: string; code: string | null; message: string } | null;
}

function report(tt: Test, r: Run, what: string): Report | null {
  try {
    return JSON.parse(r.stdout) as Report;
  } catch {
    tt.fail(`${what}: stdout is not one JSON document: ${r.stdout} ${r.stderr}`);
    return null;
  }
}

/** XOR 0xff into `length` bytes of `file` at `offset`: every one of them differs afterwards. */
function flip(file: string, offset: number, length = 1): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(length);
  fs.readSync(fd, b, 0, length, offset);
  for (let i = 0; i < length; i++) b[i] = b[i]! ^ 0xff;
  fs.writeSync(fd, b, 0, length, offset);
  fs.closeSync(fd);
}

/** Two independent files (no extent shared) with the same `size` random bytes. */
function twins(dir: string, name: string, size: number): [string, string, Buffer] {
  const a = path.join(dir, `${name}-a`);
  const b = path.join(dir, `${name}-b`);
  const data = randomBytes(size);
  fs.writeFileSync(a, data);
  fs.writeFileSync(b, data);
  return [a, b, data];
}

/** Blocks (of BLOCK bytes) touched by [offset, offset+length), as bytes, clipped to `size`. */
function blockBytes(ranges: [number, number][], size: number): number {
  const blocks = new Set<number>();
  for (const [o, l] of ranges) for (let i = Math.floor(o / BLOCK); i * BLOCK < o + l; i++) blocks.add(i);
  let n = 0;
  for (const i of blocks) n += Math.min(BLOCK, size - i * BLOCK);
  return n;
}

for (const kind of REFLINK_FS) {
  t.test(`--dedupe on ${kind} shares every equal block and lists the differing bytes`, async (t) => {
    const mnt = mountFs(t, kind as FsKind);
    if (!mnt) return;
    const dir = fs.mkdtempSync(path.join(mnt, 'dedupe-'));

    // 12 MiB and a partial last block; flipped: one byte in the middle, a run of 10 bytes
    // across the block boundary at 8 MiB, and the last byte (in the partial block).
    const size = 12 * M + 1234;
    const flips: [number, number][] = [
      [6 * M + 777, 1],
      [8 * M - 5, 10],
      [size - 1, 1],
    ];
    const [a, b] = twins(dir, 'scattered', size);
    for (const [o, l] of flips) flip(b, o, l);
    const shaA = sha256(a);
    const shaB = sha256(b);
    t.equal(sharedBytes(b), 0, 'nothing shared before');

    const r = tscp(['--json', '--dedupe', a, b]);
    t.equal(r.status, 3, `contents differ: exit 3 (${r.stderr.trim()})`);
    t.match(r.stderr, /^tscp: cannot dedupe '[^\n]*': contents differ in 3 ranges \(12 bytes, the first at byte 6292233\); \d+ bytes deduplicated \(EILSEQ\)\n$/, 'one line: how many ranges and bytes differ');
    t.equal(sha256(a), shaA, 'SOURCE bytes unchanged');
    t.equal(sha256(b), shaB, 'DEST bytes unchanged');
    const differing = blockBytes(flips, size);
    const rep = report(t, r, 'scattered');
    if (rep) {
      t.same(rep.differingRanges, flips.map(([offset, length]) => ({ offset, length })), '--json: exactly the flipped byte ranges');
      t.equal(rep.differingRangeCount, 3, '--json: 3 ranges');
      t.equal(rep.differingBytes, 12, '--json: 12 bytes differ');
      t.equal(rep.exitCode, 3, '--json: exitCode 3');
      t.match(rep.error, { kind: 'differs', code: 'EILSEQ' }, '--json: error kind differs');
      t.equal(rep.totalBytes, size, '--json: totalBytes is the size');
      t.equal(rep.bytes.deduplicated, size - differing, '--json: every block without a flipped byte deduplicated');
      t.equal(rep.sharedBytes, size - differing, '--json: sharedBytes (FIEMAP) the same');
    }
    // filefrag counts whole blocks; the blocks holding a flipped byte stay DEST's own.
    t.equal(sharedBytes(b), size - differing, `filefrag: DEST shares all but the ${differing} bytes of the differing blocks`);
    // btrfs flags a whole extent shared when any of it is: SOURCE's single extent is.
    if (kind === 'xfs') t.equal(sharedBytes(a), size - differing, 'filefrag: SOURCE shares as much');
    else t.ok(sharedBytes(a) >= size - differing, `filefrag: SOURCE shares at least as much (${sharedBytes(a)})`);

    // -v: the line says what was shared and where the bytes differ, and ends with exit 3.
    const v = tscp(['-v', '--dedupe', a, b]);
    t.equal(v.status, 3, '-v: exit 3');
    t.match(v.stdout, /^'[^\n]*' -> '[^\n]*': 12\.0 MiB, 12\.0 MiB deduplicated, 12\.0 MiB shared with SOURCE, 12 bytes differ in 3 ranges: \[6292233, \+1\) \[8388603, \+10\) \[12584145, \+1\), [^\n]*, exit 3\n$/, '-v: shared, then the differing ranges');
    t.equal(v.stderr.split('\n').length, 2, '-v: still one line on stderr');
    t.equal(sha256(b), shaB, 'DEST bytes unchanged after a second run');

    // Identical files: exit 0, everything shared, an empty list.
    const [c, d, data] = twins(dir, 'same', 8 * M + 100);
    const same = tscp(['--json', '--dedupe', c, d]);
    t.equal(same.status, 0, `identical: exit 0 (${same.stderr})`);
    const sameRep = report(t, same, 'identical');
    if (sameRep) {
      t.same(sameRep.differingRanges, [], 'identical: no differing range');
      t.equal(sameRep.differingRangeCount, 0);
      t.equal(sameRep.differingBytes, 0);
      t.equal(sameRep.bytes.deduplicated, data.length, 'identical: every byte deduplicated');
    }
    t.ok(sharedBytes(d) >= data.length - BLOCK, `identical: filefrag: DEST shared (${sharedBytes(d)})`);
  });

  t.test(`--dedupe on ${kind}: different sizes, a byte range, many ranges`, async (t) => {
    const mnt = mountFs(t, kind as FsKind);
    if (!mnt) return;
    const dir = fs.mkdtempSync(path.join(mnt, 'dedupe-'));

    // Different sizes: the common part is compared and its equal blocks shared; the bytes
    // past the shorter file's end differ. Its partial last block cannot be shared (the kernel
    // allows that only at both files' EOF) but is compared: equal there, so not listed.
    {
      const a = path.join(dir, 'long');
      const b = path.join(dir, 'short');
      const data = randomBytes(2 * M + 100);
      fs.writeFileSync(a, data);
      fs.writeFileSync(b, data.subarray(0, M + 10));
      const shaA = sha256(a);
      const shaB = sha256(b);
      for (const [src, dst] of [
        [a, b],
        [b, a],
      ] as const) {
        const r = tscp(['--json', '--dedupe', src, dst]);
        t.equal(r.status, 3, `sizes differ (${path.basename(src)} -> ${path.basename(dst)}): exit 3`);
        t.match(r.stderr, /contents differ in 1 range \(1048666 bytes, the first at byte 1048586; sizes \d+ and \d+ bytes\)/, 'sizes differ: the line says so');
        const rep = report(t, r, 'sizes differ');
        if (rep) {
          t.same(rep.differingRanges, [{ offset: M + 10, length: M + 90 }], 'sizes differ: the bytes past the shorter end');
          t.equal(rep.bytes.deduplicated, M, 'sizes differ: the whole blocks of the common part deduplicated');
          t.equal(rep.sharedBytes, M, 'sizes differ: and shared (FIEMAP)');
          t.equal(rep.totalBytes, 2 * M + 100, 'sizes differ: totalBytes is the longer size');
        }
      }
      t.equal(sha256(a), shaA, 'sizes differ: SOURCE unchanged');
      t.equal(sha256(b), shaB, 'sizes differ: DEST unchanged');
      t.equal(fs.statSync(b).size, M + 10, 'sizes differ: DEST keeps its size');
      t.equal(sharedBytes(b), M, 'sizes differ: filefrag: the common whole blocks shared');
    }

    // A range: SOURCE [1M, 5M) against DEST [2M, 6M), one byte of DEST flipped at 3M+5,
    // reported at its SOURCE offset (2M+5).
    {
      const a = path.join(dir, 'range-a');
      const b = path.join(dir, 'range-b');
      const data = randomBytes(6 * M);
      fs.writeFileSync(a, data);
      fs.writeFileSync(b, Buffer.concat([randomBytes(2 * M), data.subarray(M, 5 * M)]));
      flip(b, 3 * M + 5);
      const shaB = sha256(b);
      const r = tscp(['--json', '--dedupe', '-s', '1M', '-d', '2M', '-l', '4M', a, b]);
      t.equal(r.status, 3, `range: exit 3 (${r.stderr.trim()})`);
      const rep = report(t, r, 'range');
      if (rep) {
        t.same(rep.differingRanges, [{ offset: 2 * M + 5, length: 1 }], 'range: the differing byte at its SOURCE offset');
        t.equal(rep.bytes.deduplicated, 4 * M - BLOCK, 'range: all but one block deduplicated');
        t.equal(rep.sharedBytes, 4 * M - BLOCK, 'range: and shared (FIEMAP)');
      }
      t.equal(sha256(b), shaB, 'range: DEST unchanged');
      t.equal(sharedBytes(b), 4 * M - BLOCK, 'range: filefrag: DEST shares the range but one block');
    }

    // 256 differing ranges: -v lists the first 100 and counts the rest; --json lists all.
    {
      const [a, b] = twins(dir, 'many', 2 * M);
      const flips = Array.from({ length: 256 }, (_, i) => i * 8 * K + 3);
      for (const o of flips) flip(b, o);
      const v = tscp(['-v', '--dedupe', a, b]);
      t.equal(v.status, 3, 'many: exit 3');
      const listed = v.stdout.match(/\[\d+, \+\d+\)/g) ?? [];
      t.equal(listed.length, 100, '-v: the first 100 ranges listed');
      t.equal(listed[0], '[3, +1)', '-v: in order, the first first');
      t.match(v.stdout, / and 156 more, /, '-v: the rest counted');
      const rep = report(t, tscp(['--json', '--dedupe', a, b]), 'many');
      if (rep) {
        t.same(rep.differingRanges, flips.map((offset) => ({ offset, length: 1 })), '--json: all 256 ranges');
        t.equal(rep.differingRangeCount, 256);
        t.equal(rep.bytes.deduplicated, 2 * M - 256 * BLOCK, '--json: every other block deduplicated');
      }
      t.equal(sharedBytes(b), 2 * M - 256 * BLOCK, 'many: filefrag: every block without a flipped byte shared');
    }
  });
}
