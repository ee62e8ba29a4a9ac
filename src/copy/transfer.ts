/**
 * The data mover: it owns the fallback chain
 *
 *     reflink (FICLONE / FICLONERANGE) -> copy_file_range -> sendfile -> read/write
 *
 * and walks SOURCE's data segments (SEEK_DATA/SEEK_HOLE) so holes stay holes whatever the
 * method. Everything a copy does to bytes goes through here.
 */
import { SEEK_DATA, SEEK_HOLE, SEEK_SET, SysError, isErrno, type Sys } from '../sys/index.js';
import { byteCount, chunkOf, maxBig, minBig } from './bytes.js';
import { CopyError, detailsOf } from './errors.js';
import type { FilePath } from './paths.js';
import type { ByteRange, BytesByMethod, CopyMode, Fallback, Method, Reporter } from './types.js';

/**
 * Before a method has moved any byte, these errnos mean "this method cannot work here",
 * not "the copy failed":
 * - EXDEV: SOURCE and DEST are on different filesystems (reflink and copy_file_range need one);
 * - EOPNOTSUPP, ENOTTY: the filesystem has no remap/clone support (ext4, tmpfs) or no ioctl;
 * - ENOSYS: the kernel predates the call;
 * - EINVAL: the call does not take these files (pipes, devices, /proc) or this alignment;
 * - EPERM, EBADF, ETXTBSY: the kernel refuses the fast path for this pair of open files;
 *   read/write either works or fails with the real error, which is then reported.
 * After a method has moved bytes, the same errnos are real errors: the filesystem already
 * accepted the method, so a change of mind means something is wrong.
 */
export const CANNOT_USE_METHOD_HERE = new Set(['EXDEV', 'EOPNOTSUPP', 'ENOTTY', 'ENOSYS', 'EINVAL', 'EPERM', 'EBADF', 'ETXTBSY']);
/** Of those, the ones that speak for the filesystems, not for this pair of open files. */
const NEVER_ON_THESE_FILESYSTEMS = new Set(['EXDEV', 'EOPNOTSUPP', 'ENOTTY', 'ENOSYS']);

/**
 * Bytes per in-kernel call. Bounded so each synchronous call returns quickly (koffi calls
 * block the event loop: progress, signals and Ctrl-C wait for it), far below the kernel's
 * 0x7ffff000 per-call cap and glibc 2.41/2.42's INT_MAX miscount. The sweep
 * (`npm run bench -- --sweep`) found throughput flat from 4 to 128 MiB for both
 * copy_file_range and sendfile (1 MiB slightly slower), so the smaller end of the flat
 * range wins: shorter blocking calls at no measurable cost.
 */
export const KERNEL_CHUNK_BYTES = 16 * 1024 * 1024;
/**
 * copy_file_range requests grow from KERNEL_CHUNK_BYTES by GROWTH_FACTOR, up to this, while
 * each full-size call returns within FAST_CALL_MS: faster than any byte copy (16 MiB in 1 ms
 * is 16 GB/s), so the filesystem shares extents instead of copying, and a call 4x larger
 * still returns in a few milliseconds. Where it pays: a FUSE mount that passes the call
 * through (mergerfs over XFS shares the extents on the branch). There every call is a round
 * trip to the daemon, ~0.1 ms each: copying 1 GiB within mergerfs over XFS (copy() alone,
 * bench/sweep-child.js, medians of 30 alternating runs at load 4 on 2 cores) took 20.4 ms
 * in 16 MiB calls against 14.5, 15.2 and 14.4 ms in 64 MiB, 256 MiB and 1 GiB calls. Where calls
 * copy bytes (ext4, tmpfs, FUSE over ext4, a FUSE filesystem the kernel copies through
 * page by page) a 16 MiB call takes milliseconds and the size stays put, so no call blocks
 * the event loop longer than it did.
 */
export const KERNEL_CHUNK_MAX_BYTES = 1024 * 1024 * 1024;
const FAST_CALL_MS = 1;
const GROWTH_FACTOR = 4;
/** Bytes per FICLONERANGE call: sharing extents is metadata work, so chunks can be large. */
export const CLONE_CHUNK_BYTES = 1024 * 1024 * 1024;
/**
 * Buffer for the read/write fallback: in the sweep 64-256 KiB were 15-50% slower, and
 * 512 KiB, 1 MiB and 4 MiB formed the top group (1 MiB fastest when the machine was quiet).
 */
export const READ_WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * The read/write buffer of this thread, shared by its transfers. A read and the writes of
 * what it got happen in one synchronous call (readWrite), so no other copy on the thread
 * can use the buffer in between. One buffer per transfer meant 1 MiB allocated for every
 * empty file of a tree (an empty file is read to its end: see whole.ts isStream), and the
 * garbage collector, with malloc, took ~20% of each worker's time on 100,000 empty files.
 */
let threadBuffer: Buffer | undefined;

function readWriteBuffer(size: number): Buffer {
  if (size !== READ_WRITE_BUFFER_BYTES) return Buffer.allocUnsafe(size);
  return (threadBuffer ??= Buffer.allocUnsafe(size));
}
/** Longest stretch of synchronous work before the event loop gets a turn. */
const BREATHE_EVERY_MS = 25;

export interface TransferContext {
  sys: Sys;
  srcFd: number;
  dstFd: number;
  /** Paths as the user gave them, for errors. */
  source: FilePath;
  dest: FilePath;
  mode: CopyMode;
  reporter?: Reporter;
  signal?: AbortSignal;
  /** Total bytes this transfer covers, for progress; null when unknown (a stream). */
  total: bigint | null;
  /**
   * Methods this pair of filesystems is known to refuse (errno by method), shared by the
   * copies of a tree: a refusal that says "never here" (EXDEV, EOPNOTSUPP, ENOTTY, ENOSYS)
   * is learnt from the first file and recorded, not asked again, for the rest.
   */
  refusals?: Map<Method, string>;
  /** Tuning, for the benchmark sweeps: bytes per in-kernel call and read/write buffer size. */
  kernelChunkBytes?: number;
  readWriteBufferBytes?: number;
}

/** Bytes by method, counted exactly. */
export type ExactBytes = { [K in keyof BytesByMethod]: bigint };

export class Transfer {
  readonly exact: ExactBytes = { reflinked: 0n, copyFileRange: 0n, sendfile: 0n, readWrite: 0n, deduplicated: 0n, holes: 0n };
  readonly fallbacks: Fallback[] = [];
  /** Bytes finished: moved, shared or skipped as holes. */
  done = 0n;

  /** Data methods in the order they are tried for bytes that were not reflinked. */
  private readonly dataMethods: Method[];
  private methodIndex = 0;
  private readonly movedBy = new Map<Method, bigint>();
  private buffer?: Buffer;
  private lastBreath = performance.now();
  private announced?: Method;
  /** DEST ranges that must read as holes but lay past DEST's data when the copy began. */
  private readonly holesToTrim: [bigint, bigint][] = [];

  private readonly kernelChunk: number;
  /** Current copy_file_range request size: grows while calls share rather than copy. */
  private copyRangeChunk: number;
  private readonly bufferSize: number;

  constructor(private readonly ctx: TransferContext) {
    this.kernelChunk = ctx.kernelChunkBytes ?? KERNEL_CHUNK_BYTES;
    this.copyRangeChunk = this.kernelChunk;
    this.bufferSize = ctx.readWriteBufferBytes ?? READ_WRITE_BUFFER_BYTES;
    // Across filesystems copy_file_range answers EXDEV (Linux 6.18) and sendfile goes before
    // read/write because it measured as fast or faster on every pair: 1 GiB, warm cache,
    // medians of 9 rounds (node bench/crossfs.js; bench/README.md has both runs), sendfile
    // against read/write with a 1 MiB buffer: ext4 -> XFS 210 vs 841 ms, XFS -> ext4 280 vs
    // 2220 ms, tmpfs -> ext4 313 vs 1800 ms, ext4 -> btrfs 535 vs 542 ms; never more system
    // CPU; both leave DEST all dirty in the page cache, with the same writeback after.
    // copy_file_range shares extents on XFS and btrfs (the kernel tries a remap first), so
    // an independent copy must not use it: sendfile never remaps.
    this.dataMethods = ctx.mode === 'never' ? ['sendfile', 'read_write'] : ['copy_file_range', 'sendfile', 'read_write'];
  }

  /** Bytes by method as a result reports them. */
  get bytes(): BytesByMethod {
    const e = this.exact;
    return {
      reflinked: byteCount(e.reflinked),
      copyFileRange: byteCount(e.copyFileRange),
      sendfile: byteCount(e.sendfile),
      readWrite: byteCount(e.readWrite),
      deduplicated: byteCount(e.deduplicated),
      holes: byteCount(e.holes),
    };
  }

  /** Bytes that reached DEST, by any method. */
  get bytesWritten(): bigint {
    const b = this.exact;
    return b.reflinked + b.copyFileRange + b.sendfile + b.readWrite;
  }

  /** Bytes shared with SOURCE by a method that shares (reflink, dedupe) or may (copy_file_range). */
  get mayShare(): boolean {
    const b = this.exact;
    return b.reflinked + b.copyFileRange + b.deduplicated > 0n;
  }

  /**
   * Step 1 of the chain for a whole file: FICLONE into the (empty) destination.
   * Returns false when the filesystem cannot share extents and the caller should copy;
   * with --reflink=always that refusal is the error instead.
   */
  reflinkWhole(size: bigint): boolean {
    this.checkAborted();
    const known = this.ctx.refusals?.get('reflink');
    if (known && this.ctx.mode !== 'always') {
      this.recordFallback('reflink', this.dataMethods[0]!, known);
      return false;
    }
    this.announce('reflink');
    try {
      this.ctx.sys.ficlone(this.ctx.dstFd, this.ctx.srcFd);
    } catch (err) {
      return this.reflinkRefused(err);
    }
    this.exact.reflinked += size;
    this.advance(size);
    return true;
  }

  /** Step 1 for a range: FICLONERANGE of a block-aligned range, in bounded chunks. */
  async reflinkRange(r: ByteRange): Promise<boolean> {
    this.announce('reflink');
    let off = 0n;
    while (off < r.length) {
      await this.breathe();
      const len = BigInt(chunkOf(r.length - off, CLONE_CHUNK_BYTES));
      try {
        this.ctx.sys.ficloneRange(this.ctx.dstFd, this.ctx.srcFd, r.srcOffset + off, len, r.dstOffset + off);
      } catch (err) {
        if (off === 0n) return this.reflinkRefused(err);
        throw this.failure(err);
      }
      this.exact.reflinked += len;
      this.advance(len);
      off += len;
    }
    return true;
  }

  private reflinkRefused(err: unknown): false {
    if (!(err instanceof SysError) || !CANNOT_USE_METHOD_HERE.has(err.code) || this.ctx.mode === 'always') {
      throw this.failure(err, this.ctx.mode === 'always' ? 'reflink' : 'copy');
    }
    this.recordFallback('reflink', this.dataMethods[0]!, err.code);
    this.remember('reflink', err.code);
    return false;
  }

  private remember(method: Method, errno: string): void {
    if (NEVER_ON_THESE_FILESYSTEMS.has(errno)) this.ctx.refusals?.set(method, errno);
  }

  /**
   * Steps 2-4 for a SOURCE without holes (its blocks cover its size): one data segment,
   * no SEEK_DATA/SEEK_HOLE walk (as cp does for files that do not look sparse).
   */
  async copyDense(length: bigint): Promise<void> {
    await this.copyData(0n, length, 0n);
  }

  /**
   * Steps 2-4 of the chain for a range of SOURCE: copy its data segments by the current
   * data method, leave its holes as holes. `destDataEnd` is DEST's size before the copy:
   * below it, a hole in SOURCE must become a hole (or zeros) in DEST, since DEST may hold
   * data there; above it, DEST is already a hole.
   */
  async copySparse(r: ByteRange, destDataEnd: bigint): Promise<void> {
    await this.walkSegments(r, destDataEnd);
    this.trimPreallocation();
  }

  private async walkSegments(r: ByteRange, destDataEnd: bigint): Promise<void> {
    const { sys, srcFd } = this.ctx;
    const end = r.srcOffset + r.length;
    const shift = r.dstOffset - r.srcOffset;
    let pos = r.srcOffset;
    while (pos < end) {
      let dataStart: bigint | null;
      let dataEnd: bigint;
      try {
        dataStart = sys.lseek(srcFd, pos, SEEK_DATA);
        dataEnd = dataStart === null ? end : minBig(sys.lseek(srcFd, dataStart, SEEK_HOLE) ?? end, end);
      } catch (err) {
        // A filesystem without SEEK_DATA support: treat the rest as data.
        if (!isErrno(err, 'EINVAL', 'EOPNOTSUPP', 'ESPIPE')) throw this.failure(err);
        dataStart = pos;
        dataEnd = end;
      }
      if (dataStart === null || dataStart >= end) {
        await this.hole(pos, end, shift, destDataEnd);
        return;
      }
      if (dataStart > pos) await this.hole(pos, dataStart, shift, destDataEnd);
      await this.copyData(dataStart, dataEnd, shift);
      pos = dataEnd;
    }
  }

  /** Copy SOURCE bytes [from, to) to DEST at from+shift, falling back method by method. */
  private async copyData(from: bigint, to: bigint, shift: bigint): Promise<void> {
    let pos = from;
    while (pos < to) {
      await this.breathe();
      const method = this.dataMethods[this.methodIndex]!;
      const known = this.ctx.refusals?.get(method);
      if (known && !this.movedBy.has(method) && this.methodIndex < this.dataMethods.length - 1) {
        this.methodIndex++;
        this.recordFallback(method, this.dataMethods[this.methodIndex]!, known);
        continue;
      }
      this.announce(method);
      let moved: number;
      try {
        moved = this.moveChunk(method, pos, pos + shift, to - pos);
      } catch (err) {
        if (isErrno(err, 'EINTR')) continue;
        const isLast = this.methodIndex === this.dataMethods.length - 1;
        if (err instanceof SysError && CANNOT_USE_METHOD_HERE.has(err.code) && !this.movedBy.has(method) && !isLast) {
          this.methodIndex++;
          this.recordFallback(method, this.dataMethods[this.methodIndex]!, err.code);
          this.remember(method, err.code);
          continue;
        }
        throw this.failure(err);
      }
      if (moved === 0) {
        // A 0 before the expected end is not EOF for the in-kernel calls: /proc and /sys
        // files report size 0 and the kernel trusts i_size. read() returning 0 *is* EOF,
        // so let read/write decide; if it also sees the end, SOURCE shrank under us.
        if (method !== 'read_write') {
          this.methodIndex = this.dataMethods.indexOf('read_write');
          this.recordFallback(method, 'read_write', 'EOF');
          continue;
        }
        throw new CopyError({
          kind: 'source-changed',
          verb: 'copy',
          source: this.ctx.source,
          dest: this.ctx.dest,
          reason: `source ended at byte ${pos}, before the expected ${to} (it shrank during the copy)`,
          ...this.progressSoFar(),
        });
      }
      const n = BigInt(moved);
      this.movedBy.set(method, (this.movedBy.get(method) ?? 0n) + n);
      this.count(method, n);
      this.advance(n);
      pos += n;
    }
  }

  /** One bounded call of `method`; returns bytes moved, possibly fewer than asked. */
  private moveChunk(method: Method, srcPos: bigint, dstPos: bigint, remaining: bigint): number {
    const { sys, srcFd, dstFd } = this.ctx;
    switch (method) {
      case 'copy_file_range': {
        const asked = chunkOf(remaining, this.copyRangeChunk);
        const started = performance.now();
        const moved = sys.copyFileRange(srcFd, srcPos, dstFd, dstPos, asked);
        this.growIfShared(asked, moved, performance.now() - started);
        return moved;
      }
      case 'sendfile':
        // sendfile writes at DEST's file position, so put it where this chunk goes.
        sys.lseek(dstFd, dstPos, SEEK_SET);
        return sys.sendfile(dstFd, srcFd, srcPos, chunkOf(remaining, this.kernelChunk));
      case 'read_write':
        return this.readWrite(srcPos, dstPos, remaining);
      default:
        throw new Error(`not a data method: ${method}`);
    }
  }

  /**
   * A full-size copy_file_range call that returned within FAST_CALL_MS shared extents:
   * ask for more per call (see KERNEL_CHUNK_MAX_BYTES). A size set by the caller (the
   * benchmark sweeps) stays fixed.
   */
  private growIfShared(asked: number, moved: number, ms: number): void {
    if (this.ctx.kernelChunkBytes !== undefined || asked !== this.copyRangeChunk || moved !== asked || ms >= FAST_CALL_MS) return;
    this.copyRangeChunk = Math.min(this.copyRangeChunk * GROWTH_FACTOR, KERNEL_CHUNK_MAX_BYTES);
  }

  /** One read and its full write; null positions use the file position (pipes, devices). */
  private readWrite(srcPos: bigint | null, dstPos: bigint | null, remaining: bigint): number {
    const { sys, srcFd, dstFd } = this.ctx;
    const buf = (this.buffer ??= readWriteBuffer(this.bufferSize));
    const got = sys.pread(srcFd, buf, chunkOf(remaining, buf.length), srcPos);
    let written = 0;
    while (written < got) {
      written += sys.pwrite(dstFd, buf.subarray(written), got - written, dstPos === null ? null : dstPos + BigInt(written));
    }
    return got;
  }

  /**
   * Copy with read/write until read() says end of file: for a SOURCE whose size means
   * nothing (FIFO, character device, /proc file), or a DEST that is not a regular file
   * (a device or FIFO is written through with write(2), as cp does).
   */
  async stream(destIsSeekable = true): Promise<void> {
    this.announce('read_write');
    let pos = 0n;
    for (;;) {
      await this.breathe();
      let got: number;
      try {
        got = this.readWrite(null, destIsSeekable ? pos : null, BigInt(this.bufferSize));
      } catch (err) {
        if (isErrno(err, 'EINTR')) continue;
        throw this.failure(err);
      }
      if (got === 0) return;
      const n = BigInt(got);
      this.count('read_write', n);
      this.advance(n);
      pos += n;
    }
  }

  /**
   * SOURCE [from, to) is a hole. Where DEST may hold data (below destDataEnd) punch a
   * hole, or write zeros where the filesystem cannot punch; past it DEST is a hole already.
   */
  private async hole(from: bigint, to: bigint, shift: bigint, destDataEnd: bigint): Promise<void> {
    const start = from + shift;
    const stop = minBig(to + shift, destDataEnd);
    if (to + shift > maxBig(start, destDataEnd)) this.holesToTrim.push([maxBig(start, destDataEnd), to + shift]);
    if (start < stop) {
      try {
        this.ctx.sys.punchHole(this.ctx.dstFd, start, stop - start);
      } catch (err) {
        if (!isErrno(err, 'EOPNOTSUPP', 'ENOSYS')) throw this.failure(err);
        await this.writeZeros(start, stop);
      }
    }
    this.exact.holes += to - from;
    this.advance(to - from);
  }

  /**
   * XFS preallocates blocks past the end of a file being written (speculative
   * preallocation) and leaves them as unwritten extents inside what later becomes a hole
   * once the next data segment extends the file: DEST would allocate far more than SOURCE.
   * Punching the holes once the data is in gives the blocks back. Only an optimisation:
   * a filesystem that cannot punch has nothing to give back.
   */
  private trimPreallocation(): void {
    const holes = this.holesToTrim.splice(0);
    if (this.bytesWritten === 0n) return;
    for (const [from, to] of holes) {
      try {
        // KEEP_SIZE: also frees blocks preallocated past DEST's current end.
        this.ctx.sys.punchHole(this.ctx.dstFd, from, to - from);
      } catch {
        return;
      }
    }
  }

  private async writeZeros(from: bigint, to: bigint): Promise<void> {
    const zeros = Buffer.alloc(chunkOf(to - from, this.bufferSize));
    for (let pos = from; pos < to; ) {
      await this.breathe();
      try {
        pos += BigInt(this.ctx.sys.pwrite(this.ctx.dstFd, zeros, chunkOf(to - pos, zeros.length), pos));
      } catch (err) {
        throw this.failure(err);
      }
    }
  }

  private count(method: Method, n: bigint): void {
    if (method === 'copy_file_range') this.exact.copyFileRange += n;
    else if (method === 'sendfile') this.exact.sendfile += n;
    else if (method === 'read_write') this.exact.readWrite += n;
  }

  /** `n` more bytes finished (dedupe counts its own shares through here too). */
  advance(n: bigint): void {
    this.done += n;
    const reporter = this.ctx.reporter;
    if (reporter?.progress) reporter.progress(Number(this.done), this.ctx.total === null ? null : Number(this.ctx.total));
  }

  private announce(method: Method): void {
    if (this.announced === method) return;
    this.announced = method;
    this.ctx.reporter?.method?.(method);
  }

  private recordFallback(from: Method, to: Method, errno: string): void {
    const fallback: Fallback = { from, to, errno };
    this.fallbacks.push(fallback);
    this.ctx.reporter?.fallback?.(fallback);
  }

  /**
   * Give the event loop a turn every BREATHE_EVERY_MS so timers (progress) and signal
   * handlers run, and stop if the caller aborted.
   */
  async breathe(): Promise<void> {
    this.checkAborted();
    const now = performance.now();
    if (now - this.lastBreath < BREATHE_EVERY_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.lastBreath = performance.now();
    this.checkAborted();
  }

  private checkAborted(): void {
    if (!this.ctx.signal?.aborted) return;
    throw new CopyError({
      kind: 'interrupted',
      verb: 'copy',
      source: this.ctx.source,
      dest: this.ctx.dest,
      reason: 'interrupted',
      cause: this.ctx.signal.reason,
      ...this.progressSoFar(),
    });
  }

  /** A CopyError for a failed call, carrying how far the copy got. */
  failure(err: unknown, verb = 'copy'): CopyError {
    if (err instanceof CopyError) return err.bytes ? err : new CopyError({ ...detailsOf(err), ...this.progressSoFar() });
    if (!(err instanceof SysError)) throw err;
    return CopyError.fromSys(err, verb, this.ctx.source, this.ctx.dest, this.progressSoFar());
  }

  private progressSoFar() {
    return { bytesCopied: byteCount(this.bytesWritten), fallbacks: [...this.fallbacks], bytes: this.bytes };
  }
}
