import t from 'tap';
import { RangeProblem, alignmentProblem, rangesOverlap, resolveRange, splitForClone } from '../../src/copy/range.js';

const BS = 4096;

t.test('resolveRange: defaults', async (t) => {
  t.same(resolveRange(1000, {}), { srcOffset: 0, dstOffset: 0, length: 1000 }, 'whole SOURCE at offset 0');
  t.same(resolveRange(1000, { srcOffset: 100 }), { srcOffset: 100, dstOffset: 0, length: 900 }, 'length defaults to the rest of SOURCE');
  t.same(resolveRange(1000, { dstOffset: 5000 }), { srcOffset: 0, dstOffset: 5000, length: 1000 }, 'dstOffset may lie past anything');
  t.same(resolveRange(1000, { length: 10 }), { srcOffset: 0, dstOffset: 0, length: 10 });
  t.same(resolveRange(1000, { srcOffset: 1000 }), { srcOffset: 1000, dstOffset: 0, length: 0 }, 'offset exactly at EOF: empty range');
  t.same(resolveRange(1000, { srcOffset: 990, length: 10 }), { srcOffset: 990, dstOffset: 0, length: 10 }, 'ending exactly at EOF');
  t.same(resolveRange(0, {}), { srcOffset: 0, dstOffset: 0, length: 0 }, 'empty SOURCE');
});

t.test('resolveRange: past the end is refused, not shortened', async (t) => {
  t.throws(() => resolveRange(1000, { srcOffset: 1001 }), RangeProblem);
  t.throws(() => resolveRange(1000, { srcOffset: 1001 }), { message: /past the end of SOURCE \(1000 bytes\)/ });
  t.throws(() => resolveRange(1000, { length: 1001 }), RangeProblem);
  t.throws(() => resolveRange(1000, { length: 1001 }), { message: /\[0, 1001\) reaches past the end of SOURCE \(1000 bytes\)/ });
  t.throws(() => resolveRange(1000, { srcOffset: 500, length: 501 }), { message: /\[500, 1001\)/ });
  t.throws(() => resolveRange(0, { length: 1 }), RangeProblem);
});

t.test('resolveRange: bad numbers', async (t) => {
  t.throws(() => resolveRange(1000, { srcOffset: -1 }), { message: /source offset -1 is not a whole number/ });
  t.throws(() => resolveRange(1000, { dstOffset: -5 }), { message: /destination offset -5/ });
  t.throws(() => resolveRange(1000, { length: 1.5 }), { message: /length 1.5/ });
  t.throws(() => resolveRange(1000, { srcOffset: Number.NaN }), RangeProblem);
  t.throws(() => resolveRange(1000, { dstOffset: Number.MAX_SAFE_INTEGER + 2 }), RangeProblem, 'unsafe integer');
  t.throws(
    () => resolveRange(10, { dstOffset: Number.MAX_SAFE_INTEGER, length: 1 }),
    { message: /destination offset \+ length exceeds/ },
    'dstOffset + length past 2^53-1',
  );
  t.same(resolveRange(10, { dstOffset: Number.MAX_SAFE_INTEGER - 10, length: 10 }).dstOffset, Number.MAX_SAFE_INTEGER - 10);
});

t.test('rangesOverlap', async (t) => {
  t.equal(rangesOverlap({ srcOffset: 0, dstOffset: 10, length: 10 }), false, 'adjacent, after');
  t.equal(rangesOverlap({ srcOffset: 10, dstOffset: 0, length: 10 }), false, 'adjacent, before');
  t.equal(rangesOverlap({ srcOffset: 0, dstOffset: 9, length: 10 }), true, 'one byte shared');
  t.equal(rangesOverlap({ srcOffset: 9, dstOffset: 0, length: 10 }), true, 'one byte shared, other side');
  t.equal(rangesOverlap({ srcOffset: 5, dstOffset: 5, length: 1 }), true, 'identical');
  t.equal(rangesOverlap({ srcOffset: 5, dstOffset: 5, length: 0 }), false, 'empty ranges never overlap');
  t.equal(rangesOverlap({ srcOffset: 0, dstOffset: 1000, length: 100 }), false, 'far apart');
  // What copy() does with it: resolve, then check.
  t.equal(rangesOverlap(resolveRange(100, { srcOffset: 0, dstOffset: 50 })), true, 'default length reaches into DEST range');
  t.equal(rangesOverlap(resolveRange(100, { srcOffset: 0, dstOffset: 50, length: 50 })), false);
});

t.test('splitForClone: aligned range is cloned whole', async (t) => {
  const r = { srcOffset: BS, dstOffset: 2 * BS, length: 4 * BS };
  t.same(splitForClone(r, BS, 100 * BS, 100 * BS), { clone: r, copies: [] });
  const atZero = { srcOffset: 0, dstOffset: 0, length: BS };
  t.same(splitForClone(atZero, BS, 10 * BS, 0), { clone: atZero, copies: [] });
});

t.test('splitForClone: same misalignment -> head / middle / tail', async (t) => {
  // src 100, dst 4196: both 100 bytes into a block.
  const r = { srcOffset: 100, dstOffset: BS + 100, length: 3 * BS };
  const s = splitForClone(r, BS, 100 * BS, 100 * BS);
  const head = BS - 100;
  t.same(s.clone, { srcOffset: BS, dstOffset: 2 * BS, length: 2 * BS });
  t.same(s.copies, [
    { srcOffset: 100, dstOffset: BS + 100, length: head },
    { srcOffset: 3 * BS, dstOffset: 4 * BS, length: 100 },
  ]);
  // The pieces cover the range exactly, in order, without overlap.
  const pieces = [s.copies[0]!, s.clone!, s.copies[1]!];
  let src = r.srcOffset;
  let dst = r.dstOffset;
  for (const p of pieces) {
    t.equal(p.srcOffset, src);
    t.equal(p.dstOffset, dst);
    src += p.length;
    dst += p.length;
  }
  t.equal(src, r.srcOffset + r.length);
  t.equal(dst, r.dstOffset + r.length);
});

t.test('splitForClone: head only, tail only', async (t) => {
  const headOnly = splitForClone({ srcOffset: 10, dstOffset: 10, length: BS - 10 + BS }, BS, 100 * BS, 100 * BS);
  t.same(headOnly.clone, { srcOffset: BS, dstOffset: BS, length: BS });
  t.same(headOnly.copies, [{ srcOffset: 10, dstOffset: 10, length: BS - 10 }]);
  const tailOnly = splitForClone({ srcOffset: 0, dstOffset: 0, length: BS + 7 }, BS, 100 * BS, 100 * BS);
  t.same(tailOnly.clone, { srcOffset: 0, dstOffset: 0, length: BS });
  t.same(tailOnly.copies, [{ srcOffset: BS, dstOffset: BS, length: 7 }]);
});

t.test('splitForClone: different misalignment -> copied whole', async (t) => {
  const r = { srcOffset: 100, dstOffset: 200, length: 10 * BS };
  t.same(splitForClone(r, BS, 100 * BS, 100 * BS), { clone: null, copies: [r] });
  const r2 = { srcOffset: 0, dstOffset: 1, length: 10 * BS };
  t.same(splitForClone(r2, BS, 100 * BS, 100 * BS), { clone: null, copies: [r2] });
});

t.test('splitForClone: partial tail block only at SOURCE EOF reaching DEST end', async (t) => {
  const srcSize = 3 * BS + 123;
  const r = { srcOffset: 0, dstOffset: 0, length: srcSize };
  // DEST empty or not longer than the range's end: the partial tail block may be cloned.
  t.same(splitForClone(r, BS, srcSize, 0), { clone: r, copies: [] }, 'new DEST');
  t.same(splitForClone(r, BS, srcSize, srcSize), { clone: r, copies: [] }, 'DEST ends exactly there');
  t.same(splitForClone(r, BS, srcSize, 100), { clone: r, copies: [] }, 'DEST shorter');
  // DEST longer: the kernel refuses a partial block inside DEST, so the tail is copied.
  t.same(
    splitForClone(r, BS, srcSize, srcSize + 1),
    { clone: { srcOffset: 0, dstOffset: 0, length: 3 * BS }, copies: [{ srcOffset: 3 * BS, dstOffset: 3 * BS, length: 123 }] },
    'DEST longer than the range end',
  );
  // Not at SOURCE EOF: never a partial tail, whatever DEST's size.
  const notEof = { srcOffset: 0, dstOffset: 0, length: 3 * BS + 100 };
  t.same(
    splitForClone(notEof, BS, srcSize, 0),
    { clone: { srcOffset: 0, dstOffset: 0, length: 3 * BS }, copies: [{ srcOffset: 3 * BS, dstOffset: 3 * BS, length: 100 }] },
    'range stops short of SOURCE EOF',
  );
  // Same misalignment with the partial tail allowed: head copied, rest cloned to EOF.
  const shifted = { srcOffset: 100, dstOffset: BS + 100, length: srcSize - 100 };
  t.same(splitForClone(shifted, BS, srcSize, 0), {
    clone: { srcOffset: BS, dstOffset: 2 * BS, length: srcSize - BS },
    copies: [{ srcOffset: 100, dstOffset: BS + 100, length: BS - 100 }],
  });
});

t.test('splitForClone: tiny ranges', async (t) => {
  t.same(splitForClone({ srcOffset: 0, dstOffset: 0, length: 0 }, BS, 10, 10), { clone: null, copies: [] }, 'empty');
  const inside = { srcOffset: 10, dstOffset: 10, length: 20 };
  t.same(splitForClone(inside, BS, 100 * BS, 100 * BS), { clone: null, copies: [inside] }, 'within one block');
  const short = { srcOffset: 0, dstOffset: 0, length: 100 };
  t.same(splitForClone(short, BS, 100 * BS, 100 * BS), { clone: null, copies: [short] }, 'less than a block, not at EOF');
  t.same(splitForClone(short, BS, 100, 0), { clone: short, copies: [] }, 'a whole small file into a new DEST');
  const headToEof = { srcOffset: 10, dstOffset: 10, length: 90 };
  t.same(splitForClone(headToEof, BS, 100, 0), { clone: null, copies: [headToEof] }, 'unaligned start inside the last block');
  const one = { srcOffset: BS - 1, dstOffset: BS - 1, length: 2 };
  t.same(
    splitForClone(one, BS, 100 * BS, 100 * BS),
    { clone: null, copies: [one] },
    'straddling a block boundary with nothing aligned to clone',
  );
});

t.test('alignmentProblem', async (t) => {
  t.equal(alignmentProblem({ srcOffset: 0, dstOffset: BS, length: 2 * BS }, BS, 10 * BS, 10 * BS), null);
  const offsets = alignmentProblem({ srcOffset: 1, dstOffset: 0, length: BS }, BS, 10 * BS, 10 * BS);
  t.match(offsets, /block size \(4096 bytes\)/);
  t.match(offsets, /source offset 1, destination offset 0/);
  t.match(alignmentProblem({ srcOffset: 0, dstOffset: 512, length: BS }, BS, 10 * BS, 10 * BS), /4096/);
  const len = alignmentProblem({ srcOffset: 0, dstOffset: 0, length: 100 }, BS, 10 * BS, 10 * BS);
  t.match(len, /length 100 must be a multiple of the filesystem block size \(4096 bytes\)/);
  t.match(len, /at or past the end of DEST/);
  t.match(alignmentProblem({ srcOffset: 0, dstOffset: 0, length: 100 }, 65536, 10 * BS, 10 * BS), /65536 bytes/, 'names the block size given');
  // Partial tail at SOURCE EOF.
  t.equal(alignmentProblem({ srcOffset: 0, dstOffset: 0, length: 100 }, BS, 100, 0), null, 'clone to a new DEST');
  t.equal(alignmentProblem({ srcOffset: 0, dstOffset: 0, length: 100 }, BS, 100, 50), null, 'past a shorter DEST end');
  t.not(alignmentProblem({ srcOffset: 0, dstOffset: 0, length: 100 }, BS, 100, 200), null, 'inside DEST');
  // Dedupe: exactly at DEST's end.
  t.equal(alignmentProblem({ srcOffset: 0, dstOffset: 0, length: 100 }, BS, 100, 100, true), null);
  const dedupe = alignmentProblem({ srcOffset: 0, dstOffset: 0, length: 100 }, BS, 100, 50, true);
  t.match(dedupe, /exactly at the end of DEST/);
  t.match(dedupe, /4096/);
});
