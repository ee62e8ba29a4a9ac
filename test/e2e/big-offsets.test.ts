/**
 * Offsets and sizes past 2^53, up to 2^63-1, on XFS (whose files reach 2^63-1 bytes).
 *
 * A JavaScript Number holds integers exactly only up to 2^53-1: past it, odd values do not
 * exist, so a size of 2^53+4097 or an offset of 2^53+4099 would silently become a
 * neighbour (or, in node:fs, a RangeError with a stack trace). Every check here uses an odd
 * value past 2^53, reads the bytes back with xfs_io at the exact offset, and reads the
 * --json document's raw text (JSON.parse would round the very numbers under test).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { mountFs, tscp } from '../helpers/fs.js';

const TWO_53 = 2n ** 53n;
const MAX_OFFSET = 2n ** 63n - 1n;

/** The byte at `offset` of `file`, as xfs_io's pread -v shows it ("61" for 'a'). */
function byteAt(file: string, offset: bigint): string {
  const out = execFileSync('xfs_io', ['-r', '-c', `pread -v ${offset} 1`, file], { encoding: 'utf8' });
  const m = /^[0-9a-f]+:\s+([0-9a-f]{2})\b/m.exec(out);
  if (!m) throw new Error(`no byte in xfs_io output: ${out}`);
  return m[1]!;
}

function sizeOf(file: string): bigint {
  return fs.statSync(file, { bigint: true }).size;
}

/** A sparse file: one byte `hex` at `offset`, so its size is offset+1. */
function oneByteAt(file: string, offset: bigint, hex: string): void {
  execFileSync('xfs_io', ['-f', '-c', `pwrite -S 0x${hex} ${offset} 1`, file], { stdio: 'ignore' });
}

/** The raw text of a JSON number field, unrounded. */
function rawField(json: string, key: string): string | undefined {
  return new RegExp(`"${key}": (-?\\d+)`).exec(json)?.[1];
}

t.test('sizes and offsets past 2^53 are exact (XFS)', async (t) => {
  const dir = mountFs(t, 'xfs');
  if (!dir) return;
  const big = path.join(dir, 'big');
  const at = TWO_53 + 4096n; // block-aligned data, odd size (2^53+4097)
  oneByteAt(big, at, '61');
  t.equal(sizeOf(big), at + 1n, 'the fixture has the odd size');

  for (const [args, what] of [
    [['--copy'], '--copy (SEEK_DATA walk, sendfile)'],
    [[], 'default mode (reflink)'],
    [['--inplace', '--copy'], '--inplace --copy'],
  ] as const) {
    const dest = path.join(dir, `whole-${args.join('') || 'auto'}`);
    if (args.includes('--inplace')) fs.writeFileSync(dest, 'old contents that must go');
    const r = tscp([...args, '--json', big, dest]);
    t.equal(r.status, 0, `${what}: exit 0 (${r.stderr.trim()})`);
    t.equal(r.stderr, '', `${what}: no stack trace, nothing on stderr`);
    t.equal(rawField(r.stdout, 'totalBytes'), String(at + 1n), `${what}: --json totalBytes exact`);
    t.equal(rawField(r.stdout, 'holes'), args.includes('--copy') ? String(at) : '0', `${what}: --json holes exact`);
    t.equal(sizeOf(dest), at + 1n, `${what}: DEST has SOURCE's exact size`);
    t.equal(byteAt(dest, at), '61', `${what}: the byte is at its exact offset`);
    t.equal(byteAt(dest, 0n), '00', `${what}: the start is a hole (zeros)`);
    fs.unlinkSync(dest);
  }

  // A range whose offsets are odd past 2^53: not even representable as a Number.
  const src = at; // 'a' there
  const dst = TWO_53 + 4099n;
  const ranged = path.join(dir, 'ranged');
  const r = tscp(['--json', '-s', String(src), '-d', String(dst), '-l', '1', big, ranged]);
  t.equal(r.status, 0, `range: exit 0 (${r.stderr.trim()})`);
  t.equal(rawField(r.stdout, 'srcOffset'), String(src), 'range: --json srcOffset exact');
  t.equal(rawField(r.stdout, 'dstOffset'), String(dst), 'range: --json dstOffset exact');
  t.equal(sizeOf(ranged), dst + 1n, 'range: DEST ends exactly after the byte');
  t.equal(byteAt(ranged, dst), '61', 'range: the byte landed at the odd offset');
  t.equal(byteAt(ranged, dst - 1n), '00', 'range: not one byte early');

  // The largest offset there is: a byte at 2^63-2 makes a file of 2^63-1 bytes.
  const edge = path.join(dir, 'edge');
  const e = tscp(['-s', '0', '-l', '1', '-d', String(MAX_OFFSET - 1n), big, edge]);
  t.equal(e.status, 0, `range to 2^63-2: exit 0 (${e.stderr.trim()})`);
  t.equal(sizeOf(edge), MAX_OFFSET, 'DEST is 2^63-1 bytes');
  t.equal(byteAt(edge, MAX_OFFSET - 1n), '00', "SOURCE's first byte (a hole, zero) is at 2^63-2");
  const edgeCopy = path.join(dir, 'edge-copy');
  const c = tscp(['--copy', edge, edgeCopy]);
  t.equal(c.status, 0, `whole copy of a 2^63-1 byte file: exit 0 (${c.stderr.trim()})`);
  t.equal(sizeOf(edgeCopy), MAX_OFFSET, 'its copy is 2^63-1 bytes too');
  const past = tscp(['-s', '0', '-l', '2', '-d', String(MAX_OFFSET - 1n), big, path.join(dir, 'past')]);
  t.equal(past.status, 2, 'a range ending past 2^63-1 is a usage error');
  t.match(past.stderr, /past the largest file offset \(2\^63-1\)/);
});
