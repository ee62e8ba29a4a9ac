/**
 * copy(): what a whole-file copy, a range copy and a dedupe each do, from resolving DEST
 * to the last rename. The byte moving itself (and its fallback chain) is in transfer.ts.
 */
import { constants as fsConstants } from 'node:fs';
import { FILE_DEDUPE_RANGE_DIFFERS, SysError, isErrno, linuxSys, type FileStat, type Sys } from '../sys/index.js';
import { CopyError } from './errors.js';
import { baseName, decorateName, dirName, joinPath, pathText, type FilePath } from './paths.js';
import { RangeProblem, alignmentProblem, rangesOverlap, resolveRange, splitForClone } from './range.js';
import { measureSharedBytes } from './sharing.js';
import { Transfer } from './transfer.js';
import type { ByteRange, CopyMode, CopyOptions, CopyResult } from './types.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NOCTTY } = fsConstants;

/** FIDEDUPERANGE compares and shares at most this much per call (the kernel's own cap). */
export const DEDUPE_CHUNK_BYTES = 1024 * 1024 * 1024;

/** Filesystems whose files report a size unrelated to what read() returns. */
const PSEUDO_FILESYSTEMS = new Set([
  0x9fa0, // procfs
  0x62656572, // sysfs
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x63677270, // cgroup2
  0x73636673, // securityfs
  0x62656570, // configfs
]);

/** Prefix of the temporary file a whole-file copy writes before renaming it over DEST. */
export const TEMP_PREFIX = '.tscp-';

interface Job {
  sys: Sys;
  source: FilePath;
  /** The file to write: DEST, or DEST/basename(SOURCE) when DEST is a directory. */
  target: FilePath;
  mode: CopyMode;
  options: CopyOptions;
  started: number;
}

/**
 * Copy SOURCE to DEST (a file, or a directory to copy into), whole or by range, by the
 * fastest means the filesystems allow. Resolves with what was done; rejects with a
 * CopyError saying what failed and how many bytes reached DEST first.
 */
export async function copy(source: FilePath, dest: FilePath, options: CopyOptions = {}): Promise<CopyResult> {
  const sys = options.sys ?? linuxSys;
  const mode = options.mode ?? 'auto';
  const job: Job = { sys, source, target: resolveTarget(sys, source, dest), mode, options, started: performance.now() };
  const isRange = options.srcOffset !== undefined || options.dstOffset !== undefined || options.length !== undefined;

  let srcFd: number;
  try {
    srcFd = sys.open(source, O_RDONLY | O_NOCTTY);
  } catch (err) {
    throw fail(job, err);
  }
  try {
    const src = sys.fstat(srcFd);
    if (src.isDirectory) throw fail(job, new SysError(21 /* EISDIR */, 'open'));
    const existing = statTarget(job);
    const sameFile = existing !== null && existing.dev === src.dev && existing.ino === src.ino;
    if (sameFile && !isRange) {
      throw new CopyError({ kind: 'same-file', verb: 'copy', source, dest: job.target });
    }
    if (mode === 'dedupe') return await dedupeFile(job, srcFd, src, existing, sameFile, isRange);
    if (isRange) return await copyRange(job, srcFd, src, existing, sameFile);
    return await copyWhole(job, srcFd, src, existing);
  } finally {
    closeQuietly(sys, srcFd);
  }
}

/** DEST, or DEST/basename(SOURCE) when DEST names a directory, as cp does. */
function resolveTarget(sys: Sys, source: FilePath, dest: FilePath): FilePath {
  try {
    if (sys.stat(dest).isDirectory) return joinPath(dest, baseName(source));
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
  }
  return dest;
}

/** DEST's stat (following symlinks), or null if it does not exist yet. */
function statTarget(job: Job): FileStat | null {
  try {
    return job.sys.stat(job.target);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw fail(job, err);
  }
  // Missing: but a dangling symlink at DEST would make us create a file somewhere else.
  let link: FileStat;
  try {
    link = job.sys.stat(job.target, false);
  } catch {
    return null;
  }
  if (link.isSymbolicLink) {
    throw new CopyError({
      kind: 'system',
      verb: 'copy',
      source: job.source,
      dest: job.target,
      code: 'ENOENT',
      reason: 'not writing through dangling symlink',
    });
  }
  return null;
}

function fail(job: Job, err: unknown, verb = 'copy'): CopyError {
  if (err instanceof CopyError) return err;
  if (err instanceof SysError) return CopyError.fromSys(err, verb, job.source, job.target);
  throw err;
}

function invalid(job: Job, reason: string, verb = 'copy'): CopyError {
  return new CopyError({ kind: 'usage', verb, source: job.source, dest: job.target, code: 'EINVAL', reason });
}

function closeQuietly(sys: Sys, fd: number): void {
  try {
    sys.close(fd);
  } catch {
    // Nothing useful to do: the copy's own outcome is what the caller needs.
  }
}

/**
 * Whether SOURCE must be read until read() says end of file rather than trusted for its
 * size: FIFOs and devices, and files on /proc, /sys and the like. An empty regular file
 * is read that way too (a pseudo-file the list below misses reports size 0), except with
 * --reflink=always, which must be able to clone an empty file as cp does.
 */
function isStream(job: Job, src: FileStat): boolean {
  if (!src.isFile) return true;
  if (src.size === 0 && job.mode !== 'always') return true;
  try {
    return PSEUDO_FILESYSTEMS.has(job.sys.fsType(job.source));
  } catch {
    return false;
  }
}

function umaskOf(options: CopyOptions): number {
  return options.umask ?? process.umask();
}

/** Sharing is measured only after a method that can share; the others never do. */
function sharedAfter(job: Job, t: Transfer, srcFd: number, dstFd: number, range: ByteRange): number | null {
  const b = t.bytes;
  if (b.reflinked + b.copyFileRange + b.deduplicated === 0) return 0;
  return measureSharedBytes(job.sys, srcFd, dstFd, range);
}

function result(job: Job, t: Transfer, range: ByteRange | null, totalBytes: number, sharedBytes: number | null, inPlace: boolean): CopyResult {
  return {
    source: pathText(job.source),
    dest: pathText(job.target),
    mode: job.mode,
    range,
    totalBytes,
    bytes: { ...t.bytes },
    fallbacks: [...t.fallbacks],
    sharedBytes,
    inPlace,
    durationMs: performance.now() - job.started,
  };
}

/**
 * Random hex for the temporary file's name. Web Crypto's getRandomValues is already in the
 * process; importing node:crypto would add ~7 ms to every start (bench/README.md).
 */
function randomHex(bytes: number): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}

/** Where a whole-file copy writes: a temporary file beside DEST, or DEST itself (--inplace). */
interface WholeFileTarget {
  fd: number;
  /** True when DEST is replaced by rename (the copy is atomic); false when written in place. */
  atomic: boolean;
  /** What to do once the bytes are in: rename the temporary file over DEST, or nothing. */
  commit(): void;
  /** What to do when the copy failed: remove the temporary file, or a DEST made for nothing. */
  abandon(bytesWritten: number): void;
}

/**
 * A temporary file beside DEST, or null where renaming one over DEST would change what cp
 * keeps: DEST's directory refuses new files though DEST itself may be writable, or DEST's
 * owner is one we cannot give the new file (not root). Then the copy goes in place, as cp's.
 */
function tempFileTarget(job: Job, existing: FileStat | null): WholeFileTarget | null {
  const { sys } = job;
  // Replace the file a symlink at DEST points to, not the link, as cp writes through it.
  const finalPath = existing ? sys.realpath(job.target) : job.target;
  // The name says whose it is; the random part makes it unguessable.
  const tempName = decorateName(`${TEMP_PREFIX}${randomHex(6)}-`, baseName(finalPath), 200);
  const tempPath = joinPath(dirName(finalPath), tempName);
  let fd: number;
  try {
    // Exclusive and not following symlinks: a planted link at this name is never used.
    // 0600 while in progress: a private SOURCE is never readable by others, even partly.
    fd = sys.open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (err) {
    if (existing && isErrno(err, 'EACCES', 'EPERM')) return null;
    throw fail(job, err);
  }
  if (existing) {
    try {
      // An existing DEST keeps its owner, as with cp: settle it before any byte is copied.
      sys.fchown(fd, existing.uid, existing.gid);
    } catch (err) {
      const mine = sys.fstat(fd);
      closeQuietly(sys, fd);
      removeQuietly(sys, tempPath);
      if (!isErrno(err, 'EPERM')) throw fail(job, err);
      if (mine.uid !== existing.uid || mine.gid !== existing.gid) return null;
      return tempFileTarget(job, null);
    }
  }
  return {
    fd,
    atomic: true,
    commit() {
      if (job.options.fsync) sys.fsync(fd);
      sys.rename(tempPath, finalPath);
      if (job.options.fsync) fsyncDirectory(sys, dirName(finalPath));
    },
    abandon() {
      try {
        sys.unlink(tempPath);
      } catch {
        // Already gone; nothing else to clean.
      }
    },
  };
}

/** --inplace: write straight into DEST (truncated, as cp does), keeping its inode and hard links. */
function inPlaceTarget(job: Job, src: FileStat, existing: FileStat | null): WholeFileTarget {
  // Not O_TRUNC: with --reflink=always a refused clone must leave DEST untouched. FICLONE
  // replaces DEST's content whole; the other paths truncate first (see copyWhole).
  const { fd, created } = openDestInPlace(job, src, existing);
  return {
    fd,
    atomic: false,
    commit() {
      if (job.options.fsync) job.sys.fsync(fd);
    },
    abandon(bytesWritten) {
      if (created && bytesWritten === 0) removeQuietly(job.sys, job.target);
    },
  };
}

function fsyncDirectory(sys: Sys, dir: FilePath): void {
  const fd = sys.open(dir, O_RDONLY);
  try {
    sys.fsync(fd);
  } finally {
    closeQuietly(sys, fd);
  }
}

function removeQuietly(sys: Sys, file: FilePath): void {
  try {
    sys.unlink(file);
  } catch {
    // Already gone.
  }
}

/**
 * A whole file goes into a new temporary file beside DEST, which is renamed over DEST
 * only once complete: an existing DEST keeps its content unless the copy succeeds, and
 * no partial file ever stands under DEST's name. (--inplace trades that for DEST's inode.)
 */
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
  return result(job, t, null, t.done, 0, true);
}

async function copyWhole(job: Job, srcFd: number, src: FileStat, existing: FileStat | null): Promise<CopyResult> {
  const { sys } = job;
  if (existing?.isDirectory) throw fail(job, new SysError(21 /* EISDIR */, 'open'));
  if (existing && !existing.isFile) return copyIntoSpecial(job, srcFd);
  const stream = isStream(job, src);
  if (stream && job.mode === 'always') {
    // Nothing to share: a stream has no extents. Refused before DEST is touched.
    throw fail(job, new SysError(95 /* EOPNOTSUPP */, 'ioctl(FICLONE)'), 'reflink');
  }
  const target = (!job.options.inplace && tempFileTarget(job, existing)) || inPlaceTarget(job, src, existing);
  const total = stream ? null : src.size;
  const t = new Transfer({ ...transferContext(job, srcFd, target.fd), total });
  job.options.reporter?.start?.({ source: pathText(job.source), dest: pathText(job.target), totalBytes: total, mode: job.mode });
  let committed = false;
  let shared: number | null = 0;
  let fd = target.fd;
  try {
    if (stream) {
      if (job.options.inplace) sys.ftruncate(fd, 0);
      await t.stream();
    } else {
      const reflinked = job.mode !== 'never' && t.reflinkWhole(src.size);
      if (!reflinked) {
        // Emptied first (--inplace: DEST's old bytes must not show through SOURCE's holes),
        // then sized up front: writes inside the file's size draw no speculative
        // preallocation (XFS), and a trailing hole needs no extra step.
        if (job.options.inplace) sys.ftruncate(fd, 0);
        sys.ftruncate(fd, src.size);
        await t.copySparse({ srcOffset: 0, dstOffset: 0, length: src.size }, 0);
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
      shared = sharedAfter(job, t, srcFd, fd, { srcOffset: 0, dstOffset: 0, length: src.size });
    }
    if (target.atomic) {
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
    if (!committed) target.abandon(t.bytesWritten);
  }
  return result(job, t, null, t.done, shared, !target.atomic);
}

function transferContext(job: Job, srcFd: number, dstFd: number) {
  return {
    sys: job.sys,
    srcFd,
    dstFd,
    source: job.source,
    dest: job.target,
    mode: job.mode,
    reporter: job.options.reporter,
    signal: job.options.signal,
    kernelChunkBytes: job.options.kernelChunkBytes,
    readWriteBufferBytes: job.options.readWriteBufferBytes,
  };
}

/** Open DEST for writing in place, creating it if missing. */
function openDestInPlace(job: Job, src: FileStat, existing: FileStat | null, extraFlags = 0): { fd: number; created: boolean } {
  try {
    if (existing) return { fd: job.sys.open(job.target, O_WRONLY | extraFlags), created: false };
    // The kernel applies the umask to a created file's mode.
    return { fd: job.sys.open(job.target, O_WRONLY | O_CREAT | O_EXCL, src.mode & 0o777), created: true };
  } catch (err) {
    throw fail(job, err);
  }
}

function checkedRange(job: Job, src: FileStat, sameFile: boolean, verb: string): ByteRange {
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

/**
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
  job.options.reporter?.start?.({ source: pathText(job.source), dest: pathText(job.target), totalBytes: range.length, mode: job.mode });
  let shared: number | null = 0;
  try {
    const dst = sys.fstat(dstFd);
    if (job.mode === 'always') {
      const problem = alignmentProblem(range, dst.blksize, src.size, dst.size);
      if (problem) throw invalid(job, problem, 'reflink');
    }
    let copies: ByteRange[] = range.length > 0 ? [range] : [];
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
    if (job.options.fsync) sys.fsync(dstFd);
  } catch (err) {
    closeQuietly(sys, dstFd);
    // A DEST made for this attempt that received nothing is removed; one that received
    // bytes stays, and the error says how many, so a script can resume.
    if (created && t.bytesWritten === 0) removeQuietly(sys, job.target);
    throw t.failure(err);
  }
  sys.close(dstFd);
  return result(job, t, range, range.length, shared, true);
}

/**
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
  job.options.reporter?.start?.({ source: pathText(job.source), dest: pathText(job.target), totalBytes: range.length, mode: job.mode });
  job.options.reporter?.method?.('dedupe');
  let sharedNow: number | null = 0;
  try {
    if (range.dstOffset + range.length > existing.size) {
      throw differs(`DEST is shorter (${existing.size} bytes) than the range's end (${range.dstOffset + range.length})`);
    }
    // Checked up front because the kernel silently shortens an unaligned dedupe, which
    // would leave bytes unexamined while we reported them shared.
    const problem = alignmentProblem(range, sys.fstat(dstFd).blksize, src.size, existing.size, true);
    if (problem) throw invalid(job, problem, 'dedupe');
    let off = 0;
    while (off < range.length) {
      await t.breathe();
      const len = Math.min(DEDUPE_CHUNK_BYTES, range.length - off);
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
      const shared = Math.min(res.bytesDeduped, len);
      t.bytes.deduplicated += shared;
      t.done += shared;
      job.options.reporter?.progress?.(t.done, range.length);
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
