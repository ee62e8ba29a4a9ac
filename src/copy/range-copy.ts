/**
 * A byte range: bytes [s, s+l) of SOURCE into [d, d+l) of DEST, in place.
 */
import { SysError, type FileStat } from '../sys/index.js';
import { CopyError } from './errors.js';
import { closeQuietly, fail, invalid, removeQuietly, result, sharedAfter, syncing, transferContext, type Job } from './job.js';
import { pathText } from './paths.js';
import { RangeProblem, alignmentProblem, rangesOverlap, resolveRange, splitForClone } from './range.js';
import { openDestInPlace } from './target.js';
import { Transfer } from './transfer.js';
import type { ByteRange, CopyResult } from './types.js';

export function checkedRange(job: Job, src: FileStat, sameFile: boolean, verb: string): ByteRange {
  if (!src.isFile) throw invalid(job, 'a byte range needs SOURCE to be a regular file', verb);
  let range: ByteRange;
  try {
    range = resolveRange(src.size, job.options);
  } catch (err) {
    if (err instanceof RangeProblem) throw invalid(job, err.message, verb);
    throw err;
  }
  if (sameFile && rangesOverlap(range)) {
    throw invalid(job, 'source and destination ranges overlap in the same file', verb);
  }
  return range;
}

export /**
 * Bytes [s, s+l) of SOURCE land at [d, d+l) of DEST, in place: every other byte of DEST
 * is left as it was, and DEST grows if needed but never shrinks.
 */
async function copyRange(job: Job, srcFd: number, src: FileStat, existing: FileStat | null, sameFile: boolean): Promise<CopyResult> {
  const { sys } = job;
  const range = checkedRange(job, src, sameFile, job.mode === 'always' ? 'reflink' : 'copy');
  if (existing?.isDirectory) throw fail(job, new SysError(21 /* EISDIR */, 'open'));
  if (existing && !existing.isFile) throw invalid(job, 'a byte range needs DEST to be a regular file');
  const { fd: dstFd, created } = openDestInPlace(job, src, existing);
  const t = new Transfer({ ...transferContext(job, srcFd, dstFd), total: range.length });
  job.options.reporter?.start?.({ source: pathText(job.source), dest: pathText(job.target), totalBytes: Number(range.length), mode: job.mode });
  let shared: bigint | null = 0n;
  try {
    const dst = sys.fstat(dstFd);
    if (job.mode === 'always') {
      const problem = alignmentProblem(range, dst.blksize, src.size, dst.size);
      if (problem) throw invalid(job, problem, 'reflink');
    }
    let copies: ByteRange[] = range.length > 0n ? [range] : [];
    if (job.mode !== 'never') {
      const split = splitForClone(range, dst.blksize, src.size, dst.size);
      if (split.clone && (await t.reflinkRange(split.clone))) copies = split.copies;
    }
    for (const piece of copies) await t.copySparse(piece, dst.size);
    // A SOURCE cut short under us reads as a hole past its new end: that is not a copy.
    const now = sys.fstat(srcFd).size;
    if (now < range.srcOffset + range.length) {
      throw new CopyError({
        kind: 'source-changed',
        verb: 'copy',
        source: job.source,
        dest: job.target,
        reason: `source shrank during the copy (from ${src.size} to ${now} bytes)`,
      });
    }
    const end = range.dstOffset + range.length;
    if (sys.fstat(dstFd).size < end) sys.ftruncate(dstFd, end);
    shared = sharedAfter(job, t, srcFd, dstFd, range);
    if (job.options.fsync) syncing(job, () => sys.fsync(dstFd));
  } catch (err) {
    closeQuietly(sys, dstFd);
    // A DEST made for this attempt that received nothing is removed; one that received
    // bytes stays, and the error says how many, so a script can resume.
    if (created && t.bytesWritten === 0n) removeQuietly(sys, job.target);
    throw t.failure(err);
  }
  sys.close(dstFd);
  return result(job, t, range, range.length, shared, true);
}

