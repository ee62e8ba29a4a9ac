/**
 * A whole file: SOURCE's bytes into a temporary file that becomes DEST once complete (or
 * into DEST itself in place), or written through a device or FIFO at DEST.
 */
import { constants as fsConstants } from 'node:fs';
import { SysError, type FileStat } from '../sys/index.js';
import { CopyError } from './errors.js';
import { closeQuietly, fail, isStream, result, sharedAfter, transferContext, umaskOf, type Job } from './job.js';
import { pathText } from './paths.js';
import { inPlaceTarget, tempFileTarget, unnamedTarget } from './target.js';
import { Transfer } from './transfer.js';
import type { CopyResult, Method } from './types.js';

const { O_WRONLY, O_NOCTTY } = fsConstants;

/**
 * DEST is a device, FIFO or socket: write through it with write(2), as cp does, instead of
 * replacing the node with a regular file (`tscp file /dev/null` must not replace /dev/null).
 */
async function copyIntoSpecial(job: Job, srcFd: number): Promise<CopyResult> {
  const { sys } = job;
  if (job.mode === 'always') throw fail(job, new SysError(95 /* EOPNOTSUPP */, 'ioctl(FICLONE)'), 'reflink');
  let dstFd: number;
  try {
    dstFd = sys.open(job.target, O_WRONLY | O_NOCTTY);
  } catch (err) {
    throw fail(job, err);
  }
  const t = new Transfer({ ...transferContext(job, srcFd, dstFd), total: null });
  job.options.reporter?.start?.({ source: pathText(job.source), dest: pathText(job.target), totalBytes: null, mode: job.mode });
  try {
    await t.stream(false);
  } catch (err) {
    throw t.failure(err);
  } finally {
    closeQuietly(sys, dstFd);
  }
  return result(job, t, null, t.done, 0n, true);
}

/**
 * Whether SOURCE may have holes: fewer blocks allocated than its size needs (cp's test).
 * A file that does not look sparse is copied as one data segment, without the
 * SEEK_DATA/SEEK_HOLE walk; one that does is walked so its holes stay holes.
 */
function looksSparse(src: FileStat): boolean {
  return BigInt(src.blocks) * 512n < src.size;
}

/** The refusals remembered for this pair of filesystems (tree copies), or undefined. */
function refusalsFor(job: Job, src: FileStat, dstFd: number): Map<Method, string> | undefined {
  const memory = job.options.refusalMemory;
  if (!memory) return undefined;
  const key = `${src.dev}:${job.options.destDevice ?? job.sys.fstat(dstFd).dev}`;
  let known = memory.get(key);
  if (!known) memory.set(key, (known = new Map()));
  return known;
}

export async function copyWhole(job: Job, srcFd: number, src: FileStat, existing: FileStat | null): Promise<CopyResult> {
  const { sys } = job;
  if (existing?.isDirectory) throw fail(job, new SysError(21 /* EISDIR */, 'open'));
  if (existing && !existing.isFile) return copyIntoSpecial(job, srcFd);
  const stream = isStream(job, src);
  if (stream && job.mode === 'always') {
    // Nothing to share: a stream has no extents. Refused before DEST is touched.
    throw fail(job, new SysError(95 /* EOPNOTSUPP */, 'ioctl(FICLONE)'), 'reflink');
  }
  const target =
    (!job.options.inplace && ((!existing && job.options.unnamedTemp && unnamedTarget(job)) || tempFileTarget(job, existing))) ||
    inPlaceTarget(job, src, existing);
  const total = stream ? null : src.size;
  const t = new Transfer({ ...transferContext(job, srcFd, target.fd), total, refusals: refusalsFor(job, src, target.fd) });
  job.options.reporter?.start?.({ source: pathText(job.source), dest: pathText(job.target), totalBytes: total === null ? null : Number(total), mode: job.mode });
  let committed = false;
  let shared: bigint | null = 0n;
  let fd = target.fd;
  // Written in place (--inplace, or a DEST a new inode would lose something of): cp's
  // O_TRUNC, done here rather than at open so --reflink=always can still leave DEST as it
  // was when the clone is refused. Emptied first, FICLONE can take DEST (XFS refuses a
  // clone whose unaligned end lands inside DEST's old data).
  const inPlace = !target.atomic && existing !== null;
  try {
    if (stream) {
      if (inPlace) sys.ftruncate(fd, 0);
      await t.stream();
    } else {
      const emptied = inPlace && job.mode === 'auto' && existing.size > 0n;
      if (emptied) sys.ftruncate(fd, 0);
      const reflinked = job.mode !== 'never' && t.reflinkWhole(src.size);
      // FICLONE shares SOURCE's extents over DEST's first bytes but never shortens DEST: a
      // longer DEST written in place would keep its old tail.
      // (Not after emptying: the clone already set the size, and cutting inside a shared
      // partial last block would make XFS unshare it at writeback.)
      if (reflinked && inPlace && !emptied && existing.size > src.size) sys.ftruncate(fd, src.size);
      if (!reflinked) {
        // Emptied first (in place: DEST's old bytes must not show through SOURCE's holes
        // or past its end), then sized up front: writes inside the file's size draw no
        // speculative preallocation (XFS), and a trailing hole needs no extra step.
        if (inPlace) sys.ftruncate(fd, 0);
        if (looksSparse(src) || inPlace) {
          sys.ftruncate(fd, src.size);
          await t.copySparse({ srcOffset: 0n, dstOffset: 0n, length: src.size }, 0n);
        } else {
          await t.copyDense(src.size);
        }
      }
      const now = sys.fstat(srcFd).size;
      if (now !== src.size) {
        throw new CopyError({
          kind: 'source-changed',
          verb: 'copy',
          source: job.source,
          dest: job.target,
          reason: `source changed size during the copy (from ${src.size} to ${now} bytes)`,
        });
      }
      shared = sharedAfter(job, t, srcFd, fd, { srcOffset: 0n, dstOffset: 0n, length: src.size });
    }
    // The caller's metadata (the tree copy's times, owner, xattrs, mode) goes on before the
    // file takes DEST's name, so it never appears half-finished.
    const modeSet = job.options.finish?.(fd, existing === null, srcFd) === true;
    if (target.atomic && !modeSet) {
      // An existing DEST keeps its own mode (its owner was settled when the temporary
      // file was made); a new one gets SOURCE's permission bits less the umask.
      sys.fchmod(fd, existing ? existing.mode & 0o7777 : src.mode & 0o777 & ~umaskOf(job.options));
    }
    target.commit();
    committed = true;
    sys.close(fd);
    fd = -1;
  } catch (err) {
    throw t.failure(err);
  } finally {
    if (fd >= 0) closeQuietly(sys, fd);
    if (!committed) target.abandon(t.bytesWritten > 0n);
  }
  return result(job, t, null, t.done, shared, !target.atomic);
}

