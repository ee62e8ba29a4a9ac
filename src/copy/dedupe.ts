/**
 * --dedupe: share extents with DEST wherever its bytes already equal SOURCE's, and say
 * exactly which bytes differ.
 *
 * FIDEDUPERANGE is all or nothing per call: the kernel compares the whole range and shares
 * it only if every byte is equal. So the range is offered in large pieces first (one call
 * each when everything is equal, the common case); a piece the kernel answers DIFFERS is
 * halved, and each half offered again, down to DEDUPE_COMPARE_BYTES. A piece that small is
 * read from both files and compared here, block by block: each run of equal blocks is
 * offered to the kernel (which compares it again under its own locks, so a concurrent
 * writer can never make us share unequal bytes), and each differing block is compared byte
 * by byte for the exact differing ranges. Nothing is ever written.
 */
import { constants as fsConstants } from 'node:fs';
import { FILE_DEDUPE_RANGE_DIFFERS, SysError, isErrno, type FileStat } from '../sys/index.js';
import { byteCount, minBig } from './bytes.js';
import { CopyError } from './errors.js';
import { closeQuietly, fail, invalid, result, sharedAfter, transferContext, type Job } from './job.js';
import { pathText } from './paths.js';
import { alignmentProblem } from './range.js';
import { checkedRange } from './range-copy.js';
import { Transfer } from './transfer.js';
import type { ByteRange, CopyResult, DifferingRange } from './types.js';

const { O_RDONLY } = fsConstants;

/** FIDEDUPERANGE compares and shares at most this much per call (the kernel's own cap). */
export const DEDUPE_CHUNK_BYTES = 1024 * 1024 * 1024;
/**
 * The pieces offered first. When everything is equal the size hardly matters (per-call
 * cost is small next to comparing 16 MiB), but a call blocks the event loop while the
 * kernel compares, and a piece that differs wastes the comparison up to its first
 * difference: 16 MiB keeps both short (see bench/README.md, "dedupe").
 */
export const DEDUPE_PIECE_BYTES = 16 * 1024 * 1024;
/**
 * Pieces this size or smaller that differ are read and compared here instead of halved
 * again. Halving further costs a kernel comparison per level, and at 1% of blocks
 * differing most pieces of 256 KiB and more contain a difference, so each level below
 * re-reads nearly everything; comparing here reads the piece once (see bench/README.md).
 */
export const DEDUPE_COMPARE_BYTES = 1024 * 1024;
/** Differing ranges a result lists; more are counted (differingRangeCount) but not listed. */
export const DIFFERING_RANGES_KEPT = 10_000;
/** Bytes read from each file per comparison step. */
const COMPARE_WINDOW_BYTES = 1024 * 1024;

/** Byte ranges that differ, merged when adjacent, the first DIFFERING_RANGES_KEPT kept. */
export class Differences {
  readonly kept: [bigint, bigint][] = [];
  count = 0;
  bytes = 0n;
  private open: [bigint, bigint] | null = null;

  /** [start, end) differs; ranges arrive in increasing order. */
  add(start: bigint, end: bigint): void {
    if (end <= start) return;
    if (this.open && this.open[1] === start) {
      this.open[1] = end;
      return;
    }
    this.close();
    this.open = [start, end];
  }

  private close(): void {
    if (!this.open) return;
    const [s, e] = this.open;
    this.count++;
    this.bytes += e - s;
    if (this.kept.length < DIFFERING_RANGES_KEPT) this.kept.push([s, e]);
    this.open = null;
  }

  /** Closes the last range; call once, when every byte has been looked at. */
  finish(): { ranges: DifferingRange[]; count: number; bytes: bigint } {
    this.close();
    return { ranges: this.kept.map(([s, e]) => ({ offset: byteCount(s), length: byteCount(e - s) })), count: this.count, bytes: this.bytes };
  }
}

interface DedupeContext {
  job: Job;
  t: Transfer;
  srcFd: number;
  dstFd: number;
  /** DEST offset minus SOURCE offset: the work is done in SOURCE offsets. */
  delta: bigint;
  block: bigint;
  /** Pieces may be offered to the kernel only up to here (a partial last block must end at both EOFs). */
  shareEnd: bigint;
  pieceBytes: bigint;
  compareBytes: bigint;
  diffs: Differences;
  /** Read buffers (SOURCE's and DEST's) for a first comparison and for a retry, which runs inside one. */
  buffers: [Buffer, Buffer][];
}

export /**
 * FIDEDUPERANGE over the range (the whole file by default), piece by piece, sharing every
 * piece whose bytes are equal. Resolves when every byte was equal; otherwise rejects with
 * kind `differs`, carrying the result (bytes deduplicated, sharedBytes, differingRanges).
 * Whole files of different sizes: their common part is deduped the same way and the bytes
 * past the shorter one's end count as differing.
 */
async function dedupeFile(
  job: Job,
  srcFd: number,
  src: FileStat,
  existing: FileStat | null,
  sameFile: boolean,
  isRange: boolean,
): Promise<CopyResult> {
  const { sys } = job;
  if (!existing) throw fail(job, new SysError(2 /* ENOENT */, 'open'), 'dedupe');
  if (existing.isDirectory) throw fail(job, new SysError(21 /* EISDIR */, 'open'), 'dedupe');
  if (!src.isFile || !existing.isFile) throw invalid(job, 'dedupe needs two regular files', 'dedupe');
  // A whole file: the part both files have (all of it when their sizes are equal).
  const range: ByteRange = isRange
    ? checkedRange(job, src, sameFile, 'dedupe')
    : { srcOffset: 0n, dstOffset: 0n, length: minBig(src.size, existing.size) };
  const sizesDiffer = !isRange && src.size !== existing.size;
  // Read-only is enough: the kernel lets the owner (or root, or a writer) dedupe into a file.
  let dstFd: number;
  try {
    dstFd = sys.open(job.target, O_RDONLY);
  } catch (err) {
    throw fail(job, err, 'dedupe');
  }
  const total = sizesDiffer ? (src.size > existing.size ? src.size : existing.size) : range.length;
  const t = new Transfer({ ...transferContext(job, srcFd, dstFd), total });
  job.options.reporter?.start?.({ source: pathText(job.source), dest: pathText(job.target), totalBytes: Number(total), mode: job.mode });
  job.options.reporter?.method?.('dedupe');
  const diffs = new Differences();
  let sharedNow: bigint | null = 0n;
  try {
    if (range.dstOffset + range.length > existing.size) {
      // Not a difference in the bytes: the request names bytes DEST does not have, which
      // the kernel refuses with EINVAL too.
      throw invalid(job, `the range's end (${range.dstOffset + range.length}) is past the end of DEST (${existing.size} bytes)`, 'dedupe');
    }
    const blksize = sys.fstat(dstFd).blksize;
    const block = BigInt(blksize);
    const end = range.srcOffset + range.length;
    let shareEnd = end;
    if (sizesDiffer) {
      // The common part ends inside the longer file: a partial last block of it cannot be
      // shared (the kernel allows one only at both files' EOF), only compared.
      shareEnd = range.length - (range.length % block);
    } else {
      // Checked up front because the kernel silently shortens an unaligned dedupe, which
      // would leave bytes unexamined while we reported them shared.
      const problem = alignmentProblem(range, blksize, src.size, existing.size, true);
      if (problem) throw invalid(job, problem, 'dedupe');
    }
    const ctx: DedupeContext = {
      job,
      t,
      srcFd,
      dstFd,
      delta: range.dstOffset - range.srcOffset,
      block,
      shareEnd,
      pieceBytes: roundedTo(job.options.dedupePieceBytes ?? DEDUPE_PIECE_BYTES, block),
      compareBytes: roundedTo(job.options.dedupeCompareBytes ?? DEDUPE_COMPARE_BYTES, block),
      diffs,
      buffers: [],
    };
    for (let off = range.srcOffset; off < shareEnd; ) {
      const stop = minBig(off + ctx.pieceBytes, shareEnd);
      await examine(ctx, off, stop, true);
      off = stop;
    }
    // What cannot be shared is still compared, so the differing ranges are exact.
    if (shareEnd < end) await compare(ctx, shareEnd, end, false);
    if (sizesDiffer) {
      diffs.add(range.length, total);
      t.advance(total - range.length);
    }
    sharedNow = sharedAfter(job, t, srcFd, dstFd, range);
  } catch (err) {
    throw err instanceof CopyError ? err : t.failure(err, 'dedupe');
  } finally {
    closeQuietly(sys, dstFd);
  }
  const found = diffs.finish();
  const r: CopyResult = {
    ...result(job, t, isRange ? range : null, total, sharedNow, true),
    differingRanges: found.ranges,
    differingRangeCount: found.count,
    differingBytes: byteCount(found.bytes),
  };
  if (found.count === 0) return r;
  const first = found.ranges[0]!;
  const sizes = sizesDiffer ? `; sizes ${src.size} and ${existing.size} bytes` : '';
  throw new CopyError({
    kind: 'differs',
    verb: 'dedupe',
    source: job.source,
    dest: job.target,
    code: 'EILSEQ',
    reason:
      `contents differ in ${found.count} ${found.count === 1 ? 'range' : 'ranges'} (${found.bytes} bytes, the first at byte ${first.offset}${sizes}); ` +
      `${t.exact.deduplicated} bytes deduplicated`,
    bytes: t.bytes,
    result: r,
  });
}

/** `n` rounded down to a whole number of blocks, at least one. */
function roundedTo(n: number, block: bigint): bigint {
  const b = BigInt(Math.max(1, Math.floor(n)));
  return b < block ? block : b - (b % block);
}

/**
 * SOURCE bytes [start, end): offered to the kernel whole (when `offerFirst`); if they
 * differ, halved while bigger than compareBytes (each half bigger than that offered
 * again), then compared here. `start` is block-aligned, and so is `end` unless it is the
 * range's end at both files' EOF.
 */
async function examine(ctx: DedupeContext, start: bigint, end: bigint, offerFirst: boolean): Promise<void> {
  if (offerFirst) {
    const rest = await offer(ctx, start, end);
    if (rest === null) return;
    start = rest.start;
  }
  const length = end - start;
  if (length <= ctx.compareBytes) return compare(ctx, start, end, true);
  const half = length / 2n;
  const mid = start + (half - (half % ctx.block) || ctx.block);
  await examine(ctx, start, mid, mid - start > ctx.compareBytes);
  await examine(ctx, mid, end, end - mid > ctx.compareBytes);
}

/**
 * FIDEDUPERANGE over [start, end), in calls of at most DEDUPE_CHUNK_BYTES. Returns null
 * when all of it was shared, else where the kernel answered DIFFERS: the unshared rest.
 */
async function offer(ctx: DedupeContext, start: bigint, end: bigint): Promise<{ start: bigint } | null> {
  const { job, t } = ctx;
  let off = start;
  while (off < end) {
    await t.breathe();
    const len = minBig(end - off, BigInt(DEDUPE_CHUNK_BYTES));
    let res;
    try {
      res = job.sys.dedupeRange(ctx.srcFd, off, len, ctx.dstFd, off + ctx.delta);
    } catch (err) {
      if (isErrno(err, 'EINTR')) continue;
      throw err;
    }
    if (res.status === FILE_DEDUPE_RANGE_DIFFERS) return { start: off };
    if (res.bytesDeduped <= 0) throw new SysError(5 /* EIO */, 'ioctl(FIDEDUPERANGE)');
    // bytes_deduped may overstate: never count past what was asked.
    const shared = minBig(BigInt(res.bytesDeduped), len);
    t.exact.deduplicated += shared;
    t.advance(shared);
    off += shared;
  }
  return null;
}

/**
 * Read [start, end) of both files and compare them here: each run of equal blocks is
 * offered to the kernel (when `share`), each differing block compared byte by byte.
 * `retry`: a run the kernel finds unequal although we read it equal (a writer changed a
 * file meanwhile) is read and compared once more; the second time it counts as differing.
 */
async function compare(ctx: DedupeContext, start: bigint, end: bigint, share: boolean, retry = true): Promise<void> {
  const { t, block } = ctx;
  const window = BigInt(COMPARE_WINDOW_BYTES);
  const depth = retry ? 0 : 1;
  const [a, b] = (ctx.buffers[depth] ??= [Buffer.allocUnsafe(COMPARE_WINDOW_BYTES), Buffer.allocUnsafe(COMPARE_WINDOW_BYTES)]);
  let equalFrom = start;
  const flush = async (upTo: bigint) => {
    if (share && upTo > equalFrom) await shareEqual(ctx, equalFrom, upTo, retry);
  };
  for (let pos = start; pos < end; ) {
    await t.breathe();
    const n = Number(minBig(window, end - pos));
    readFully(ctx, ctx.srcFd, a, n, pos, 'SOURCE');
    readFully(ctx, ctx.dstFd, b, n, pos + ctx.delta, 'DEST');
    if (!a.subarray(0, n).equals(b.subarray(0, n))) {
      const bs = Number(block);
      for (let i = 0; i < n; i += bs) {
        const j = Math.min(i + bs, n);
        if (a.subarray(i, j).equals(b.subarray(i, j))) continue;
        const blockStart = pos + BigInt(i);
        await flush(blockStart);
        differingBytes(ctx.diffs, a, b, i, j, pos);
        equalFrom = blockStart + BigInt(j - i);
        if (share) t.advance(BigInt(j - i));
      }
    }
    pos += BigInt(n);
    // Shared runs count as done when the kernel shares them (offer), the rest here.
    if (!share) t.advance(BigInt(n));
  }
  await flush(end);
}

/** Offer an equal run [start, end) to the kernel; progress for it is counted here. */
async function shareEqual(ctx: DedupeContext, start: bigint, end: bigint, retry: boolean): Promise<void> {
  const rest = await offer(ctx, start, end);
  if (rest === null) return;
  if (retry) return compare(ctx, rest.start, end, true, false);
  ctx.diffs.add(rest.start, end);
  ctx.t.advance(end - rest.start);
}

/** Add the byte ranges where a[i, j) and b[i, j) differ, at file offset base + index. */
function differingBytes(diffs: Differences, a: Buffer, b: Buffer, i: number, j: number, base: bigint): void {
  let k = i;
  while (k < j) {
    while (k < j && a[k] === b[k]) k++;
    if (k === j) break;
    const from = k;
    while (k < j && a[k] !== b[k]) k++;
    diffs.add(base + BigInt(from), base + BigInt(k));
  }
}

/** pread until `n` bytes are in; a file that ends early changed under us. */
function readFully(ctx: DedupeContext, fd: number, buf: Buffer, n: number, pos: bigint, which: string): void {
  let got = 0;
  while (got < n) {
    let r: number;
    try {
      r = ctx.job.sys.pread(fd, buf.subarray(got), n - got, pos + BigInt(got));
    } catch (err) {
      if (isErrno(err, 'EINTR')) continue;
      throw err;
    }
    if (r === 0) {
      throw new CopyError({
        kind: 'source-changed',
        verb: 'dedupe',
        source: ctx.job.source,
        dest: ctx.job.target,
        reason: `${which} ended at byte ${pos + BigInt(got)}, before the expected ${pos + BigInt(n)} (it shrank during the dedupe)`,
      });
    }
    got += r;
  }
}
