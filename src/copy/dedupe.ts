/**
 * --dedupe: FIDEDUPERANGE over the range, sharing extents only where the bytes are equal.
 */
import { constants as fsConstants } from 'node:fs';
import { FILE_DEDUPE_RANGE_DIFFERS, SysError, isErrno, type FileStat } from '../sys/index.js';
import { chunkOf, minBig } from './bytes.js';
import { CopyError } from './errors.js';
import { closeQuietly, fail, invalid, result, sharedAfter, transferContext, type Job } from './job.js';
import { pathText } from './paths.js';
import { alignmentProblem } from './range.js';
import { checkedRange } from './range-copy.js';
import { Transfer } from './transfer.js';
import type { CopyResult } from './types.js';

/** FIDEDUPERANGE compares and shares at most this much per call (the kernel's own cap). */
const { O_RDONLY } = fsConstants;

export const DEDUPE_CHUNK_BYTES = 1024 * 1024 * 1024;

export /**
 * FIDEDUPERANGE: share extents only where DEST's bytes already equal SOURCE's. The kernel
 * compares and shares under its own locks, so nothing is ever written; any difference
 * stops the run with kind `differs`.
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
  const differs = (reason: string, bytesCopied = 0) =>
    new CopyError({ kind: 'differs', verb: 'dedupe', source: job.source, dest: job.target, code: 'EILSEQ', reason, bytesCopied });
  if (!isRange && src.size !== existing.size) {
    throw differs(`contents differ (sizes ${src.size} and ${existing.size} bytes)`);
  }
  const range = checkedRange(job, src, sameFile, 'dedupe');
  // Read-only is enough: the kernel lets the owner (or root, or a writer) dedupe into a file.
  let dstFd: number;
  try {
    dstFd = sys.open(job.target, O_RDONLY);
  } catch (err) {
    throw fail(job, err, 'dedupe');
  }
  const t = new Transfer({ ...transferContext(job, srcFd, dstFd), total: range.length });
  job.options.reporter?.start?.({ source: pathText(job.source), dest: pathText(job.target), totalBytes: Number(range.length), mode: job.mode });
  job.options.reporter?.method?.('dedupe');
  let sharedNow: bigint | null = 0n;
  try {
    if (range.dstOffset + range.length > existing.size) {
      // Not a difference in the bytes: the request names bytes DEST does not have, which
      // the kernel refuses with EINVAL too.
      throw invalid(job, `the range's end (${range.dstOffset + range.length}) is past the end of DEST (${existing.size} bytes)`, 'dedupe');
    }
    // Checked up front because the kernel silently shortens an unaligned dedupe, which
    // would leave bytes unexamined while we reported them shared.
    const problem = alignmentProblem(range, sys.fstat(dstFd).blksize, src.size, existing.size, true);
    if (problem) throw invalid(job, problem, 'dedupe');
    let off = 0n;
    while (off < range.length) {
      await t.breathe();
      const len = BigInt(chunkOf(range.length - off, DEDUPE_CHUNK_BYTES));
      let res;
      try {
        res = sys.dedupeRange(srcFd, range.srcOffset + off, len, dstFd, range.dstOffset + off);
      } catch (err) {
        if (isErrno(err, 'EINTR')) continue;
        throw err;
      }
      if (res.status === FILE_DEDUPE_RANGE_DIFFERS) {
        throw differs(`contents differ within bytes [${range.srcOffset + off}, ${range.srcOffset + off + len}) of SOURCE`);
      }
      if (res.bytesDeduped <= 0) throw fail(job, new SysError(5 /* EIO */, 'ioctl(FIDEDUPERANGE)'), 'dedupe');
      // bytes_deduped may overstate: never count past what was asked.
      const shared = minBig(BigInt(res.bytesDeduped), len);
      t.exact.deduplicated += shared;
      t.advance(shared);
      off += shared;
    }
    sharedNow = sharedAfter(job, t, srcFd, dstFd, range);
  } catch (err) {
    throw err instanceof CopyError ? err : fail(job, err, 'dedupe');
  } finally {
    closeQuietly(sys, dstFd);
  }
  return result(job, t, isRange ? range : null, range.length, sharedNow, true);
}
