/**
 * Measuring sharing instead of assuming it: the kernel never says whether
 * copy_file_range reflinked, and FICLONE on a file with holes shares only the data. This
 * reads FIEMAP of both files and counts the bytes of DEST's range whose physical blocks
 * are also SOURCE's.
 */
import { FIEMAP_EXTENT_DELALLOC, FIEMAP_EXTENT_SHARED, FIEMAP_EXTENT_UNKNOWN, type Extent, type Sys } from '../sys/index.js';
import { maxBig, minBig } from './bytes.js';
import type { ByteRange } from './types.js';

type Interval = [bigint, bigint];

/** Physical intervals of the extents that might be shared (allocated and flagged shared). */
function physical(extents: Extent[], from: bigint, to: bigint): Interval[] {
  const out: Interval[] = [];
  for (const e of extents) {
    if (!(e.flags & FIEMAP_EXTENT_SHARED) || e.flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC)) continue;
    // Clip the extent to the logical range asked about.
    const start = maxBig(e.logical, from);
    const end = minBig(e.logical + e.length, to);
    if (start >= end) continue;
    const p = e.physical + (start - e.logical);
    out.push([p, p + (end - start)]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function overlap(a: Interval[], b: Interval[]): bigint {
  let total = 0n;
  let j = 0;
  for (const [s, e] of a) {
    while (j < b.length && b[j]![1] <= s) j++;
    for (let k = j; k < b.length && b[k]![0] < e; k++) {
      total += minBig(e, b[k]![1]) - maxBig(s, b[k]![0]);
    }
  }
  return total;
}

/**
 * Bytes of DEST [range.dstOffset, +length) that share physical extents with SOURCE
 * [range.srcOffset, +length); null when the filesystem cannot say (no FIEMAP, as on tmpfs).
 */
export function measureSharedBytes(sys: Sys, srcFd: number, dstFd: number, range: ByteRange): bigint | null {
  if (range.length === 0n) return 0n;
  try {
    const dst = physical(sys.fiemap(dstFd, range.dstOffset, range.length), range.dstOffset, range.dstOffset + range.length);
    if (dst.length === 0) return 0n;
    const src = physical(sys.fiemap(srcFd, range.srcOffset, range.length), range.srcOffset, range.srcOffset + range.length);
    return overlap(dst, src);
  } catch {
    return null;
  }
}
