/**
 * Pure arithmetic on byte ranges: validating a requested range against SOURCE, and
 * splitting a range into the block-aligned middle that can be reflinked and the unaligned
 * edges that must be copied.
 */
import type { ByteRange } from './types.js';

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
  sourceSize: number,
  req: { srcOffset?: number; dstOffset?: number; length?: number },
): ByteRange {
  const srcOffset = req.srcOffset ?? 0;
  const dstOffset = req.dstOffset ?? 0;
  for (const [name, v] of [['source offset', srcOffset], ['destination offset', dstOffset], ['length', req.length ?? 0]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeProblem(`${name} ${v} is not a whole number of bytes >= 0`);
  }
  if (srcOffset > sourceSize) {
    throw new RangeProblem(`source offset ${srcOffset} is past the end of SOURCE (${sourceSize} bytes)`);
  }
  const length = req.length ?? sourceSize - srcOffset;
  if (srcOffset + length > sourceSize) {
    throw new RangeProblem(
      `range [${srcOffset}, ${srcOffset + length}) reaches past the end of SOURCE (${sourceSize} bytes)`,
    );
  }
  if (!Number.isSafeInteger(dstOffset + length)) {
    throw new RangeProblem(`destination offset + length exceeds ${Number.MAX_SAFE_INTEGER}`);
  }
  return { srcOffset, dstOffset, length };
}

/** True when the source and destination byte intervals of `r` intersect (matters within one file). */
export function rangesOverlap(r: ByteRange): boolean {
  if (r.length === 0) return false;
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
function tailMayBePartial(r: ByteRange, sourceSize: number, destSize: number): boolean {
  return r.srcOffset + r.length === sourceSize && r.dstOffset + r.length >= destSize;
}

/**
 * Split `r` for FICLONERANGE, which needs both offsets block-aligned and the length a
 * whole number of blocks (see tailMayBePartial). Offsets with different misalignment
 * can never be aligned together, so such a range is copied whole.
 */
export function splitForClone(r: ByteRange, blockSize: number, sourceSize: number, destSize: number): CloneSplit {
  const whole: CloneSplit = { clone: null, copies: r.length > 0 ? [r] : [] };
  if (r.length === 0 || r.srcOffset % blockSize !== r.dstOffset % blockSize) return whole;
  const head = Math.min((blockSize - (r.srcOffset % blockSize)) % blockSize, r.length);
  const rest = r.length - head;
  const cloneLength = tailMayBePartial(r, sourceSize, destSize) ? rest : rest - (rest % blockSize);
  if (cloneLength === 0) return whole;
  const clone = { srcOffset: r.srcOffset + head, dstOffset: r.dstOffset + head, length: cloneLength };
  const copies: ByteRange[] = [];
  if (head > 0) copies.push({ srcOffset: r.srcOffset, dstOffset: r.dstOffset, length: head });
  const tail = rest - cloneLength;
  if (tail > 0) {
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
  blockSize: number,
  sourceSize: number,
  destSize: number,
  exactDestEnd = false,
): string | null {
  if (r.srcOffset % blockSize !== 0 || r.dstOffset % blockSize !== 0) {
    return `offsets must be multiples of the filesystem block size (${blockSize} bytes); got source offset ${r.srcOffset}, destination offset ${r.dstOffset}`;
  }
  if (r.length % blockSize === 0) return null;
  const endsAtSource = r.srcOffset + r.length === sourceSize;
  const endsAtDest = exactDestEnd ? r.dstOffset + r.length === destSize : r.dstOffset + r.length >= destSize;
  if (endsAtSource && endsAtDest) return null;
  return `length ${r.length} must be a multiple of the filesystem block size (${blockSize} bytes) unless the range ends at the end of SOURCE and ${exactDestEnd ? 'exactly at' : 'at or past'} the end of DEST`;
}
