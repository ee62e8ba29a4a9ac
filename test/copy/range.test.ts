import t from 'tap';
import { MAX_OFFSET, RangeProblem, alignmentProblem, rangesOverlap, resolveRange, splitForClone } from '../../src/copy/range.js';

const BS = 4096;
/** The block size as the byte arithmetic takes it. */
const B = BigInt(BS);

t.test('resolveRange: defaults', async (t) => {
  t.strictSame(resolveRange(1000n, {}), { srcOffset: 0n, dstOffset: 0n, length: 1000n }, 'whole SOURCE at offset 0');
  t.strictSame(resolveRange(1000n, { srcOffset: 100 }), { srcOffset: 100n, dstOffset: 0n, length: 900n }, 'length defaults to the rest of SOURCE');
  t.strictSame(resolveRange(1000n, { dstOffset: 5000 }), { srcOffset: 0n, dstOffset: 5000n, length: 1000n }, 'dstOffset may lie past anything');
  t.strictSame(resolveRange(1000n, { length: 10 }), { srcOffset: 0n, dstOffset: 0n, length: 10n });
  t.strictSame(resolveRange(1000n, { srcOffset: 1000 }), { srcOffset: 1000n, dstOffset: 0n, length: 0n }, 'offset exactly at EOF: empty range');
  t.strictSame(resolveRange(1000n, { srcOffset: 990, length: 10 }), { srcOffset: 990n, dstOffset: 0n, length: 10n }, 'ending exactly at EOF');
  t.strictSame(resolveRange(0n, {}), { srcOffset: 0n, dstOffset: 0n, length: 0n }, 'empty SOURCE');
  // A request may give bigints as well as Numbers; the range is bigints either way.
  t.strictSame(
    resolveRange(1000n, { srcOffset: 100n, dstOffset: 5000n, length: 900n }),
    { srcOffset: 100n, dstOffset: 5000n, length: 900n },
    'bigint request fields',
  );
  t.strictSame(resolveRange(1000n, { srcOffset: 100n, length: 10 }), { srcOffset: 100n, dstOffset: 0n, length: 10n }, 'bigints and Numbers mixed');
});

t.test('resolveRange: past the end is refused, not shortened', async (t) => {
  t.throws(() => resolveRange(1000n, { srcOffset: 1001 }), RangeProblem);
  t.throws(() => resolveRange(1000n, { srcOffset: 1001 }), { message: /past the end of SOURCE \(1000 bytes\)/ });
  t.throws(() => resolveRange(1000n, { srcOffset: 1001n }), { message: /source offset 1001 is past the end of SOURCE \(1000 bytes\)/ }, 'a bigint too');
  t.throws(() => resolveRange(1000n, { length: 1001 }), RangeProblem);
  t.throws(() => resolveRange(1000n, { length: 1001 }), { message: /\[0, 1001\) reaches past the end of SOURCE \(1000 bytes\)/ });
  t.throws(() => resolveRange(1000n, { srcOffset: 500, length: 501 }), { message: /\[500, 1001\)/ });
  t.throws(() => resolveRange(0n, { length: 1 }), RangeProblem);
});

t.test('resolveRange: bad numbers', async (t) => {
  t.throws(() => resolveRange(1000n, { srcOffset: -1 }), { message: /source offset -1 is not a whole number/ });
  t.throws(() => resolveRange(1000n, { srcOffset: -1n }), { message: /source offset -1 is not a whole number of bytes from 0 to 9223372036854775807/ }, 'negative bigint');
  t.throws(() => resolveRange(1000n, { dstOffset: -5 }), { message: /destination offset -5/ });
  t.throws(() => resolveRange(1000n, { dstOffset: -5n }), { message: /destination offset -5 is not a whole number/ });
  t.throws(() => resolveRange(1000n, { length: 1.5 }), { message: /length 1.5/ });
  t.throws(() => resolveRange(1000n, { length: -1n }), { message: /length -1 is not a whole number/ });
  t.throws(() => resolveRange(1000n, { srcOffset: Number.NaN }), RangeProblem);
  t.throws(() => resolveRange(1000n, { srcOffset: Number.POSITIVE_INFINITY }), RangeProblem, 'Infinity');
  t.throws(() => resolveRange(1000n, { dstOffset: Number.MAX_SAFE_INTEGER + 2 }), RangeProblem, 'unsafe integer');
  t.throws(
    () => resolveRange(1000n, { dstOffset: 2 ** 53 }),
    { message: /destination offset 9007199254740992 is not a whole number of bytes from 0 to 9223372036854775807/ },
    'a Number past 2^53-1 is refused: it may not be the value meant; a bigint says it exactly',
  );
  t.throws(() => resolveRange(1000n, { dstOffset: 2n ** 63n }), { message: /destination offset 9223372036854775808 is not a whole number/ }, 'past 2^63-1');
  t.throws(() => resolveRange(2n ** 64n, { srcOffset: 2n ** 63n }), { message: /source offset 9223372036854775808/ }, 'past 2^63-1 whatever SOURCE says');
  t.throws(() => resolveRange(1000n, { length: 2n ** 63n }), { message: /length 9223372036854775808 is not a whole number/ });
});

t.test('resolveRange: exact to 2^63-1', async (t) => {
  t.equal(MAX_OFFSET, 2n ** 63n - 1n);
  // Past 2^53-1, where a Number would round, the range stays exact.
  const big = 2n ** 53n + 1n;
  t.strictSame(
    resolveRange(big + 10n, { srcOffset: big }),
    { srcOffset: big, dstOffset: 0n, length: 10n },
    'a bigint offset of 2^53+1 stays exact, and so does the default length',
  );
  t.strictSame(resolveRange(10n, { dstOffset: big, length: 10n }), { srcOffset: 0n, dstOffset: big, length: 10n }, 'dstOffset 2^53+1');
  t.equal(resolveRange(big, {}).length, big, 'length of a SOURCE of 2^53+1 bytes');
  t.throws(
    () => resolveRange(big, { srcOffset: big - 1n, length: 2n }),
    { message: /\[9007199254740992, 9007199254740994\) reaches past the end of SOURCE \(9007199254740993 bytes\)/ },
    'past the end by one byte, past 2^53',
  );
  t.equal(resolveRange(10n, { dstOffset: Number.MAX_SAFE_INTEGER, length: 1 }).dstOffset, 2n ** 53n - 1n, 'dstOffset + length may pass 2^53-1 now');
  t.equal(resolveRange(10n, { dstOffset: Number.MAX_SAFE_INTEGER - 10, length: 10 }).dstOffset, BigInt(Number.MAX_SAFE_INTEGER - 10));
  // Up to 2^63-1 exactly, and no further.
  t.strictSame(resolveRange(10n, { dstOffset: MAX_OFFSET - 10n, length: 10 }), { srcOffset: 0n, dstOffset: MAX_OFFSET - 10n, length: 10n }, 'ending exactly at 2^63-1');
  t.strictSame(resolveRange(10n, { dstOffset: MAX_OFFSET, length: 0 }), { srcOffset: 0n, dstOffset: MAX_OFFSET, length: 0n }, 'empty at 2^63-1');
  t.throws(() => resolveRange(10n, { dstOffset: 2n ** 63n - 1n, length: 1n }), RangeProblem);
  t.throws(
    () => resolveRange(10n, { dstOffset: 2n ** 63n - 1n, length: 1n }),
    { message: /destination offset \+ length exceeds the largest file offset \(9223372036854775807\)/ },
    'dstOffset + length past 2^63-1',
  );
  t.throws(() => resolveRange(10n, { dstOffset: MAX_OFFSET - 9n }), { message: /exceeds the largest file offset/ }, 'by one byte, with the default length');
  t.strictSame(resolveRange(MAX_OFFSET, {}), { srcOffset: 0n, dstOffset: 0n, length: MAX_OFFSET }, 'a SOURCE of 2^63-1 bytes');
});

t.test('rangesOverlap', async (t) => {
  t.equal(rangesOverlap({ srcOffset: 0n, dstOffset: 10n, length: 10n }), false, 'adjacent, after');
  t.equal(rangesOverlap({ srcOffset: 10n, dstOffset: 0n, length: 10n }), false, 'adjacent, before');
  t.equal(rangesOverlap({ srcOffset: 0n, dstOffset: 9n, length: 10n }), true, 'one byte shared');
  t.equal(rangesOverlap({ srcOffset: 9n, dstOffset: 0n, length: 10n }), true, 'one byte shared, other side');
  t.equal(rangesOverlap({ srcOffset: 5n, dstOffset: 5n, length: 1n }), true, 'identical');
  t.equal(rangesOverlap({ srcOffset: 5n, dstOffset: 5n, length: 0n }), false, 'empty ranges never overlap');
  t.equal(rangesOverlap({ srcOffset: 0n, dstOffset: 1000n, length: 100n }), false, 'far apart');
  // Past 2^53, one byte apart is still told apart.
  const big = 2n ** 53n;
  t.equal(rangesOverlap({ srcOffset: big, dstOffset: big + 1n, length: 1n }), false, 'adjacent past 2^53');
  t.equal(rangesOverlap({ srcOffset: big, dstOffset: big + 1n, length: 2n }), true, 'one byte shared past 2^53');
  // What copy() does with it: resolve, then check.
  t.equal(rangesOverlap(resolveRange(100n, { srcOffset: 0, dstOffset: 50 })), true, 'default length reaches into DEST range');
  t.equal(rangesOverlap(resolveRange(100n, { srcOffset: 0, dstOffset: 50, length: 50 })), false);
});

t.test('splitForClone: aligned range is cloned whole', async (t) => {
  const r = { srcOffset: B, dstOffset: 2n * B, length: 4n * B };
  t.strictSame(splitForClone(r, BS, 100n * B, 100n * B), { clone: r, copies: [] });
  const atZero = { srcOffset: 0n, dstOffset: 0n, length: B };
  t.strictSame(splitForClone(atZero, BS, 10n * B, 0n), { clone: atZero, copies: [] });
});

t.test('splitForClone: same misalignment -> head / middle / tail', async (t) => {
  // src 100, dst 4196: both 100 bytes into a block.
  const r = { srcOffset: 100n, dstOffset: B + 100n, length: 3n * B };
  const s = splitForClone(r, BS, 100n * B, 100n * B);
  const head = B - 100n;
  t.strictSame(s.clone, { srcOffset: B, dstOffset: 2n * B, length: 2n * B });
  t.strictSame(s.copies, [
    { srcOffset: 100n, dstOffset: B + 100n, length: head },
    { srcOffset: 3n * B, dstOffset: 4n * B, length: 100n },
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
  const headOnly = splitForClone({ srcOffset: 10n, dstOffset: 10n, length: B - 10n + B }, BS, 100n * B, 100n * B);
  t.strictSame(headOnly.clone, { srcOffset: B, dstOffset: B, length: B });
  t.strictSame(headOnly.copies, [{ srcOffset: 10n, dstOffset: 10n, length: B - 10n }]);
  const tailOnly = splitForClone({ srcOffset: 0n, dstOffset: 0n, length: B + 7n }, BS, 100n * B, 100n * B);
  t.strictSame(tailOnly.clone, { srcOffset: 0n, dstOffset: 0n, length: B });
  t.strictSame(tailOnly.copies, [{ srcOffset: B, dstOffset: B, length: 7n }]);
});

t.test('splitForClone: different misalignment -> copied whole', async (t) => {
  const r = { srcOffset: 100n, dstOffset: 200n, length: 10n * B };
  t.strictSame(splitForClone(r, BS, 100n * B, 100n * B), { clone: null, copies: [r] });
  const r2 = { srcOffset: 0n, dstOffset: 1n, length: 10n * B };
  t.strictSame(splitForClone(r2, BS, 100n * B, 100n * B), { clone: null, copies: [r2] });
});

t.test('splitForClone: partial tail block only at SOURCE EOF reaching DEST end', async (t) => {
  const srcSize = 3n * B + 123n;
  const r = { srcOffset: 0n, dstOffset: 0n, length: srcSize };
  // DEST empty or not longer than the range's end: the partial tail block may be cloned.
  t.strictSame(splitForClone(r, BS, srcSize, 0n), { clone: r, copies: [] }, 'new DEST');
  t.strictSame(splitForClone(r, BS, srcSize, srcSize), { clone: r, copies: [] }, 'DEST ends exactly there');
  t.strictSame(splitForClone(r, BS, srcSize, 100n), { clone: r, copies: [] }, 'DEST shorter');
  // DEST longer: the kernel refuses a partial block inside DEST, so the tail is copied.
  t.strictSame(
    splitForClone(r, BS, srcSize, srcSize + 1n),
    { clone: { srcOffset: 0n, dstOffset: 0n, length: 3n * B }, copies: [{ srcOffset: 3n * B, dstOffset: 3n * B, length: 123n }] },
    'DEST longer than the range end',
  );
  // Not at SOURCE EOF: never a partial tail, whatever DEST's size.
  const notEof = { srcOffset: 0n, dstOffset: 0n, length: 3n * B + 100n };
  t.strictSame(
    splitForClone(notEof, BS, srcSize, 0n),
    { clone: { srcOffset: 0n, dstOffset: 0n, length: 3n * B }, copies: [{ srcOffset: 3n * B, dstOffset: 3n * B, length: 100n }] },
    'range stops short of SOURCE EOF',
  );
  // Same misalignment with the partial tail allowed: head copied, rest cloned to EOF.
  const shifted = { srcOffset: 100n, dstOffset: B + 100n, length: srcSize - 100n };
  t.strictSame(splitForClone(shifted, BS, srcSize, 0n), {
    clone: { srcOffset: B, dstOffset: 2n * B, length: srcSize - B },
    copies: [{ srcOffset: 100n, dstOffset: B + 100n, length: B - 100n }],
  });
});

t.test('splitForClone: tiny ranges', async (t) => {
  t.strictSame(splitForClone({ srcOffset: 0n, dstOffset: 0n, length: 0n }, BS, 10n, 10n), { clone: null, copies: [] }, 'empty');
  const inside = { srcOffset: 10n, dstOffset: 10n, length: 20n };
  t.strictSame(splitForClone(inside, BS, 100n * B, 100n * B), { clone: null, copies: [inside] }, 'within one block');
  const short = { srcOffset: 0n, dstOffset: 0n, length: 100n };
  t.strictSame(splitForClone(short, BS, 100n * B, 100n * B), { clone: null, copies: [short] }, 'less than a block, not at EOF');
  t.strictSame(splitForClone(short, BS, 100n, 0n), { clone: short, copies: [] }, 'a whole small file into a new DEST');
  const headToEof = { srcOffset: 10n, dstOffset: 10n, length: 90n };
  t.strictSame(splitForClone(headToEof, BS, 100n, 0n), { clone: null, copies: [headToEof] }, 'unaligned start inside the last block');
  const one = { srcOffset: B - 1n, dstOffset: B - 1n, length: 2n };
  t.strictSame(
    splitForClone(one, BS, 100n * B, 100n * B),
    { clone: null, copies: [one] },
    'straddling a block boundary with nothing aligned to clone',
  );
});

t.test('splitForClone: exact past 2^53', async (t) => {
  // 2^53 is a multiple of the block size; 2^53+100 is 100 bytes into a block, which a Number could not say.
  const base = 2n ** 53n;
  const r = { srcOffset: base + 100n, dstOffset: base + B + 100n, length: 3n * B };
  const s = splitForClone(r, BS, base + 100n * B, base + 100n * B);
  t.strictSame(s.clone, { srcOffset: base + B, dstOffset: base + 2n * B, length: 2n * B });
  t.strictSame(s.copies, [
    { srcOffset: base + 100n, dstOffset: base + B + 100n, length: B - 100n },
    { srcOffset: base + 3n * B, dstOffset: base + 4n * B, length: 100n },
  ]);
  const offByOne = { srcOffset: base, dstOffset: base + 1n, length: 10n * B };
  t.strictSame(splitForClone(offByOne, BS, base + 100n * B, 0n), { clone: null, copies: [offByOne] }, 'different misalignment by one byte');
  // Partial tail at a SOURCE EOF past 2^53.
  const whole = { srcOffset: base, dstOffset: 0n, length: 3n * B + 1n };
  t.strictSame(splitForClone(whole, BS, base + 3n * B + 1n, 0n), { clone: whole, copies: [] });
});

t.test('alignmentProblem', async (t) => {
  t.equal(alignmentProblem({ srcOffset: 0n, dstOffset: B, length: 2n * B }, BS, 10n * B, 10n * B), null);
  const offsets = alignmentProblem({ srcOffset: 1n, dstOffset: 0n, length: B }, BS, 10n * B, 10n * B);
  t.match(offsets, /block size \(4096 bytes\)/);
  t.match(offsets, /source offset 1, destination offset 0/);
  t.match(alignmentProblem({ srcOffset: 0n, dstOffset: 512n, length: B }, BS, 10n * B, 10n * B), /4096/);
  const len = alignmentProblem({ srcOffset: 0n, dstOffset: 0n, length: 100n }, BS, 10n * B, 10n * B);
  t.match(len, /length 100 must be a multiple of the filesystem block size \(4096 bytes\)/);
  t.match(len, /at or past the end of DEST/);
  t.match(alignmentProblem({ srcOffset: 0n, dstOffset: 0n, length: 100n }, 65536, 10n * B, 10n * B), /65536 bytes/, 'names the block size given');
  // Partial tail at SOURCE EOF.
  t.equal(alignmentProblem({ srcOffset: 0n, dstOffset: 0n, length: 100n }, BS, 100n, 0n), null, 'clone to a new DEST');
  t.equal(alignmentProblem({ srcOffset: 0n, dstOffset: 0n, length: 100n }, BS, 100n, 50n), null, 'past a shorter DEST end');
  t.not(alignmentProblem({ srcOffset: 0n, dstOffset: 0n, length: 100n }, BS, 100n, 200n), null, 'inside DEST');
  // Dedupe: exactly at DEST's end.
  t.equal(alignmentProblem({ srcOffset: 0n, dstOffset: 0n, length: 100n }, BS, 100n, 100n, true), null);
  const dedupe = alignmentProblem({ srcOffset: 0n, dstOffset: 0n, length: 100n }, BS, 100n, 50n, true);
  t.match(dedupe, /exactly at the end of DEST/);
  t.match(dedupe, /4096/);
  // Past 2^53: offsets named exactly, alignment judged exactly.
  const base = 2n ** 53n;
  t.equal(alignmentProblem({ srcOffset: base, dstOffset: base + B, length: 2n * B }, BS, base + 10n * B, 0n), null, 'aligned past 2^53');
  t.match(
    alignmentProblem({ srcOffset: base + 1n, dstOffset: base, length: B }, BS, base + 10n * B, 0n),
    /source offset 9007199254740993, destination offset 9007199254740992/,
    'one byte off past 2^53',
  );
});
