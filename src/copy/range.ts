/**
 * Pure arithmetic on byte ranges: validating a requested range against SOURCE, and
 * splitting a range into the block-aligned middle that can be reflinked and the unaligned
 * edges that must be copied.
 */
import type { Offset } from '../sys/index.js';
import { minBig } from './bytes.js';
import type { ByteRange } from './types.js';

/** The largest offset or size a Linux file can have (loff_t). */
export const MAX_OFFSET = 2n ** 63n - 1n;

/** A range that cannot be copied: the reason, phrased for "cannot copy 'a' to 'b': <reason> (EINVAL)". */
export class RangeProblem extends Error {
  override name = 'RangeProblem';
}

/**
 * The concrete range for a request. `length` defaults to the rest of SOURCE after
 * `srcOffset`. A range reaching past SOURCE's end is refused rather than shortened, so a
 * script never gets fewer bytes than it asked for without knowing.
 */
export function resolveRange(
  sourceSize: bigint,
  req: { srcOffset?: Offset; dstOffset?: Offset; length?: Offset },
): ByteRange {
  const srcOffset = exactOffset('source offset', req.srcOffset ?? 0n);
  const dstOffset = exactOffset('destination offset', req.dstOffset ?? 0n);
  if (srcOffset > sourceSize) {
    throw new RangeProblem(`source offset ${srcOffset} is past the end of SOURCE (${sourceSize} bytes)`);
  }
  const length = req.length === undefined ? sourceSize - srcOffset : exactOffset('length', req.length);
  if (srcOffset + length > sourceSize) {
    throw new RangeProblem(
      `range [${srcOffset}, ${srcOffset + length}) reaches past the end of SOURCE (${sourceSize} bytes)`,
    );
  }
  if (dstOffset + length > MAX_OFFSET) {
    throw new RangeProblem(`destination offset + length exceeds the largest file offset (${MAX_OFFSET})`);
  }
  return { srcOffset, dstOffset, length };
}

/** A whole number of bytes in [0, 2^63-1] as a bigint (a Number must be an exact integer). */
function exactOffset(name: string, v: Offset): bigint {
  const ok = typeof v === 'bigint' ? v >= 0n && v <= MAX_OFFSET : Number.isSafeInteger(v) && v >= 0;
  if (!ok) throw new RangeProblem(`${name} ${v} is not a whole number of bytes from 0 to ${MAX_OFFSET}`);
  return BigInt(v);
}

/** True when the source and destination byte intervals of `r` intersect (matters within one file). */
export function rangesOverlap(r: ByteRange): boolean {
  if (r.length === 0n) return false;
  return r.srcOffset < r.dstOffset + r.length && r.dstOffset < r.srcOffset + r.length;
}

export interface CloneSplit {
  /** The part FICLONERANGE can share, or null when no block-aligned part exists. */
  clone: ByteRange | null;
  /** The parts to copy instead (unaligned head and tail, or the whole range). */
  copies: ByteRange[];
}

/**
 * Whether a clone may end on a partial block: the kernel allows it only when the range
 * ends at SOURCE's end and reaches (or passes) DEST's current end.
 */
function tailMayBePartial(r: ByteRange, sourceSize: bigint, destSize: bigint): boolean {
  return r.srcOffset + r.length === sourceSize && r.dstOffset + r.length >= destSize;
}

/**
 * Split `r` for FICLONERANGE, which needs both offsets block-aligned and the length a
 * whole number of blocks (see tailMayBePartial). Offsets with different misalignment
 * can never be aligned together, so such a range is copied whole.
 */
export function splitForClone(r: ByteRange, blockBytes: number, sourceSize: bigint, destSize: bigint): CloneSplit {
  const whole: CloneSplit = { clone: null, copies: r.length > 0n ? [r] : [] };
  const blockSize = BigInt(blockBytes);
  if (r.length === 0n || r.srcOffset % blockSize !== r.dstOffset % blockSize) return whole;
  const head = minBig((blockSize - (r.srcOffset % blockSize)) % blockSize, r.length);
  const rest = r.length - head;
  const cloneLength = tailMayBePartial(r, sourceSize, destSize) ? rest : rest - (rest % blockSize);
  if (cloneLength === 0n) return whole;
  const clone = { srcOffset: r.srcOffset + head, dstOffset: r.dstOffset + head, length: cloneLength };
  const copies: ByteRange[] = [];
  if (head > 0n) copies.push({ srcOffset: r.srcOffset, dstOffset: r.dstOffset, length: head });
  const tail = rest - cloneLength;
  if (tail > 0n) {
    copies.push({ srcOffset: clone.srcOffset + cloneLength, dstOffset: clone.dstOffset + cloneLength, length: tail });
  }
  return { clone, copies };
}

/**
 * Why `r` cannot be reflinked as a whole, or null if it can: what --reflink=always and
 * --dedupe need to say instead of silently copying the edges.
 */
export function alignmentProblem(
  r: ByteRange,
  blockBytes: number,
  sourceSize: bigint,
  destSize: bigint,
  exactDestEnd = false,
): string | null {
  const blockSize = BigInt(blockBytes);
  if (r.srcOffset % blockSize !== 0n || r.dstOffset % blockSize !== 0n) {
    return `offsets must be multiples of the filesystem block size (${blockSize} bytes); got source offset ${r.srcOffset}, destination offset ${r.dstOffset}`;
  }
  if (r.length % blockSize === 0n) return null;
  const endsAtSource = r.srcOffset + r.length === sourceSize;
  const endsAtDest = exactDestEnd ? r.dstOffset + r.length === destSize : r.dstOffset + r.length >= destSize;
  if (endsAtSource && endsAtDest) return null;
  return `length ${r.length} must be a multiple of the filesystem block size (${blockSize} bytes) unless the range ends at the end of SOURCE and ${exactDestEnd ? 'exactly at' : 'at or past'} the end of DEST`;
}
