/**
 * Public types of the copy engine: what a caller asks for, what it is told while the copy
 * runs, and what it gets back.
 */
import type { Offset, Sys } from '../sys/index.js';
import type { ByteCount } from './bytes.js';
import type { FilePath } from './paths.js';

export type { ByteCount } from './bytes.js';
export type { Offset } from '../sys/index.js';

/**
 * How to copy.
 * - `auto`: share extents (reflink) where the filesystem can, else copy in the kernel, else read/write.
 * - `always`: share extents or fail.
 * - `never`: an independent copy; DEST shares no extents with SOURCE afterwards.
 * - `dedupe`: share extents with DEST only where its bytes already equal SOURCE's.
 */
export type CopyMode = 'auto' | 'always' | 'never' | 'dedupe';

/** The means by which bytes moved, in the order the engine tries them. */
export type Method = 'reflink' | 'copy_file_range' | 'sendfile' | 'read_write' | 'dedupe';

/**
 * A byte range: bytes [srcOffset, srcOffset+length) of SOURCE land at
 * [dstOffset, dstOffset+length) of DEST. Exact bigints inside the engine.
 */
export interface ByteRange {
  srcOffset: bigint;
  dstOffset: bigint;
  length: bigint;
}

/** A byte range as a result reports it: numbers, or bigints past 2^53-1. */
export interface RangeReport {
  srcOffset: ByteCount;
  dstOffset: ByteCount;
  length: ByteCount;
}

export interface CopyOptions {
  /** Default `auto`. */
  mode?: CopyMode;
  /**
   * First byte of SOURCE to copy. Giving any of the three range fields makes this a range
   * copy. Up to 2^63-1; pass a bigint for values past 2^53-1.
   */
  srcOffset?: Offset;
  /** Where that byte lands in DEST. */
  dstOffset?: Offset;
  /** How many bytes; default to the end of SOURCE. */
  length?: Offset;
  /**
   * Whole-file copies only: write straight into DEST (truncating it, as cp does) instead of
   * a temporary file renamed over it. Keeps DEST's inode and hard links, but a failure or
   * interruption leaves DEST partly written.
   */
  inplace?: boolean;
  /** fsync DEST (and, for the rename, its directory) before reporting success. */
  fsync?: boolean;
  /** Receives progress events. */
  reporter?: Reporter;
  /** Aborting it stops the copy at the next chunk; the copy then fails with kind `interrupted`. */
  signal?: AbortSignal;
  /** The umask applied to a new DEST's mode; default the process's. */
  umask?: number;
  /** Bytes per copy_file_range/sendfile call (default KERNEL_CHUNK_BYTES); for tuning. */
  kernelChunkBytes?: number;
  /** read/write buffer size (default READ_WRITE_BUFFER_BYTES); for tuning. */
  readWriteBufferBytes?: number;
  /**
   * Never replace an existing DEST (cp -n): one that exists, or appears while the copy
   * runs, is left alone and the copy fails with kind `exists`. Race-free: the new file is
   * given DEST's name with link(2), which refuses an existing name.
   */
  noClobber?: boolean;
  /** DEST names the file to write even when it is a directory (cp -T); never DEST/basename(SOURCE). */
  noTargetDirectory?: boolean;
  /**
   * The caller knows DEST does not exist (it made DEST's directory itself): skip looking.
   * A DEST that appears anyway is replaced as usual, or kept with `noClobber`.
   */
  destAbsent?: boolean;
  /**
   * Write a new DEST as an unnamed file (O_TMPFILE) in DEST's directory and give it its
   * name only when complete: no temporary name is ever visible, and a crash or SIGKILL
   * leaves nothing behind. Falls back to a named temporary file where the filesystem
   * has no O_TMPFILE. The tree copy uses it for every new file.
   */
  unnamedTemp?: boolean;
  /**
   * Called with the new file's descriptor after its bytes are in and before it takes
   * DEST's name: where the tree copy applies SOURCE's times, owner, xattrs and mode, so
   * the file appears complete. Returns true when it set the mode itself (the engine then
   * does not). `srcFd` is SOURCE, open (its xattrs are read from it, without a path
   * lookup). Whole-file copies only.
   */
  finish?: (fd: number, created: boolean, srcFd: number) => boolean | void;
  /**
   * Remember, per pair of filesystems (keyed "srcDev:dstDev"), the methods they refuse for
   * good (EXDEV, EOPNOTSUPP...): a tree copy learns it from its first file and does not ask
   * again for every other one; the refusal is still reported for each file.
   */
  refusalMemory?: Map<string, Map<Method, string>>;
  /** DEST's device, when the caller knows it (saves a stat per file for refusalMemory). */
  destDevice?: number;
  /**
   * --dedupe: bytes per FIDEDUPERANGE call tried first (default DEDUPE_PIECE_BYTES), and
   * the size at or below which a piece that differs is compared in user space instead of
   * halved (default DEDUPE_COMPARE_BYTES); for tuning. Rounded down to whole blocks.
   */
  dedupePieceBytes?: number;
  dedupeCompareBytes?: number;
  /** Measure shared extents with FIEMAP after the copy (default true); false gives sharedBytes null. */
  measureSharing?: boolean;
  /**
   * Told the file the copy will write (DEST, or DEST/basename(SOURCE)) once DEST is
   * resolved, before SOURCE is opened: opening a FIFO can block for as long as no one writes.
   */
  onTarget?: (target: FilePath) => void;
  /**
   * Told the name of a temporary file as soon as it exists, before any byte is copied into
   * it. The CLI runs the copy in a worker thread: if the worker is stuck in a system call
   * (a FIFO, a hung filesystem) when a signal comes, the main thread removes the file itself.
   */
  onTempFile?: (path: FilePath) => void;
  /** The system-call layer; tests replace it to inject faults. */
  sys?: Sys;
}

/** A method that could not be used here, and the errno that said so. */
export interface Fallback {
  from: Method;
  to: Method | 'none';
  /** Errno name, or `EOF` when the kernel returned 0 bytes before the expected end. */
  errno: string;
}

/** Bytes by the means that moved them (each a number, or a bigint past 2^53-1). */
export interface BytesByMethod {
  /** Bytes whose extents were shared by FICLONE/FICLONERANGE. */
  reflinked: ByteCount;
  /** Bytes copied inside the kernel by copy_file_range(2) (which may itself share extents). */
  copyFileRange: ByteCount;
  /** Bytes copied inside the kernel by sendfile(2) (never shares extents). */
  sendfile: ByteCount;
  /** Bytes read into and written from user space. */
  readWrite: ByteCount;
  /** Bytes FIDEDUPERANGE found identical and shared. */
  deduplicated: ByteCount;
  /** Bytes of the range that were holes in SOURCE and stayed holes in DEST. */
  holes: ByteCount;
}

/**
 * Bytes --dedupe found different: [offset, offset+length) in SOURCE's offsets, adjacent
 * ranges merged. For a whole file the offsets are DEST's too (bytes past the shorter
 * file's end differ); for a range, DEST's offset is offset - srcOffset + dstOffset.
 */
export interface DifferingRange {
  offset: ByteCount;
  length: ByteCount;
}

export interface CopyResult {
  /** SOURCE as given. */
  source: string;
  /** The file that was written (DIRECTORY/basename(SOURCE) when DEST is a directory). */
  dest: string;
  mode: CopyMode;
  /** The range copied; null for a whole-file copy. */
  range: RangeReport | null;
  /** Bytes covered: the file's size, or the range's length. */
  totalBytes: ByteCount;
  bytes: BytesByMethod;
  /** Methods tried and refused, in order. */
  fallbacks: Fallback[];
  /**
   * Bytes of DEST's range whose physical extents are SOURCE's too, measured with FIEMAP
   * after the copy (not assumed from the method); null where the filesystem cannot say.
   */
  sharedBytes: ByteCount | null;
  /**
   * True when DEST was written in place (a range, --inplace, a device or FIFO at DEST, or
   * a DEST a rename cannot keep as cp keeps it: other hard links, flags or xattrs that
   * cannot be carried to the temporary file, an owner it cannot be given, a directory that
   * refuses it); false when a complete copy was renamed over DEST.
   */
  inPlace: boolean;
  durationMs: number;
  /**
   * --dedupe only (absent otherwise): the byte ranges whose contents differ, in order, the
   * first DIFFERING_RANGES_KEPT (10,000) of them; empty when every byte was equal.
   */
  differingRanges?: DifferingRange[];
  /** --dedupe only: how many differing ranges there are in all (may exceed the list). */
  differingRangeCount?: number;
  /** --dedupe only: how many bytes differ in all. */
  differingBytes?: ByteCount;
}

/** Progress events. Every method is optional; the engine never writes to the console. */
export interface Reporter {
  /**
   * The copy is about to start; `totalBytes` is null for a stream of unknown length.
   * Progress figures are Numbers (exact to 2^53-1, close enough to draw past it).
   */
  start?(info: { source: string; dest: string; totalBytes: number | null; mode: CopyMode }): void;
  /** The engine switched to `method`. */
  method?(method: Method): void;
  /** A method refused and the engine moved on. */
  fallback?(fallback: Fallback): void;
  /** `done` bytes of the total are finished (copied, shared or skipped as holes). */
  progress?(done: number, total: number | null): void;
  /**
   * Every byte is in DEST and the engine now flushes it to disk (`fsync` option): emitted
   * right before the fsync call, which can take as long as the copy when the data sits in
   * the page cache, and which holds the thread until it returns.
   */
  stage?(stage: 'syncing'): void;
}
