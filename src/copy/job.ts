/**
 * What every kind of copy shares: the job it works on, how failures become CopyErrors,
 * how a result is put together, and the small questions each operation asks of SOURCE.
 */
import { constants as fsConstants } from 'node:fs';
import { SysError, type FileStat, type Sys } from '../sys/index.js';
import { byteCount } from './bytes.js';
import { CopyError } from './errors.js';
import { pathText, type FilePath } from './paths.js';
import { measureSharedBytes } from './sharing.js';
import type { Transfer } from './transfer.js';
import type { ByteRange, CopyMode, CopyOptions, CopyResult } from './types.js';

const { O_RDONLY } = fsConstants;

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

export interface Job {
  sys: Sys;
  source: FilePath;
  /** The file to write: DEST, or DEST/basename(SOURCE) when DEST is a directory. */
  target: FilePath;
  mode: CopyMode;
  options: CopyOptions;
  started: number;
}

export function fail(job: Job, err: unknown, verb = 'copy'): CopyError {
  if (err instanceof CopyError) return err;
  if (err instanceof SysError) return CopyError.fromSys(err, verb, job.source, job.target);
  throw err;
}

export function invalid(job: Job, reason: string, verb = 'copy'): CopyError {
  return new CopyError({ kind: 'usage', verb, source: job.source, dest: job.target, code: 'EINVAL', reason });
}

export function closeQuietly(sys: Sys, fd: number): void {
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
export function isStream(job: Job, src: FileStat): boolean {
  if (!src.isFile) return true;
  if (src.size === 0n && job.mode !== 'always') return true;
  // Remembered per device: a tree copy asks this once per file, the answer once per filesystem.
  let known = pseudoByDevice.get(job.sys);
  if (!known) pseudoByDevice.set(job.sys, (known = new Map()));
  let pseudo = known.get(src.dev);
  if (pseudo === undefined) {
    try {
      pseudo = PSEUDO_FILESYSTEMS.has(job.sys.fsType(job.source));
    } catch {
      pseudo = false;
    }
    known.set(src.dev, pseudo);
  }
  return pseudo;
}

const pseudoByDevice = new WeakMap<Sys, Map<number, boolean>>();

export function umaskOf(options: CopyOptions): number {
  return options.umask ?? process.umask();
}

/** Sharing is measured only after a method that can share; the others never do. */
export function sharedAfter(job: Job, t: Transfer, srcFd: number, dstFd: number, range: ByteRange): bigint | null {
  if (!t.mayShare) return 0n;
  if (job.options.measureSharing === false) return null;
  return measureSharedBytes(job.sys, srcFd, dstFd, range);
}

export function result(job: Job, t: Transfer, range: ByteRange | null, totalBytes: bigint, sharedBytes: bigint | null, inPlace: boolean): CopyResult {
  return {
    source: pathText(job.source),
    dest: pathText(job.target),
    mode: job.mode,
    range: range && { srcOffset: byteCount(range.srcOffset), dstOffset: byteCount(range.dstOffset), length: byteCount(range.length) },
    totalBytes: byteCount(totalBytes),
    bytes: t.bytes,
    fallbacks: [...t.fallbacks],
    sharedBytes: sharedBytes === null ? null : byteCount(sharedBytes),
    inPlace,
    durationMs: performance.now() - job.started,
  };
}

/** Flush DEST with `flush`, telling the reporter first: the call can take seconds. */
export function syncing(job: Job, flush: () => void): void {
  job.options.reporter?.stage?.('syncing');
  flush();
}

export function fsyncDirectory(sys: Sys, dir: FilePath): void {
  const fd = sys.open(dir, O_RDONLY);
  try {
    sys.fsync(fd);
  } finally {
    closeQuietly(sys, fd);
  }
}

export function removeQuietly(sys: Sys, file: FilePath): void {
  try {
    sys.unlink(file);
  } catch {
    // Already gone.
  }
}

export function transferContext(job: Job, srcFd: number, dstFd: number) {
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

