/**
 * The system-call layer: each function makes one kind of call and either returns its
 * result or throws a SysError naming the errno. No policy lives here: whether EXDEV means
 * "fall back" or "fail" is the copy engine's decision (src/copy/).
 *
 * The engine receives these functions as a `Sys` object, which is also the seam where
 * unit tests inject errnos that no filesystem produces on demand (EIO mid-copy, EINTR...).
 */
import fs from 'node:fs';
import { SysError, fromNodeError } from './errors.js';
import { libc } from './libc.js';

export { SysError, errnoName, errnoNumber, errnoMessage, isErrno, fromNodeError } from './errors.js';
export { copyFileRangeSyscallNumber } from './libc.js';
export { holdKoffiWhileStdioIsFile, spareStdioFromExitSync } from './stdio-at-exit.js';

/**
 * A byte offset or length as the kernel takes it (loff_t, up to 2^63-1). A bigint is
 * exact over the whole range; a number is exact only up to 2^53-1 (Number.MAX_SAFE_INTEGER).
 */
export type Offset = number | bigint;

/** fstat(2) fields the engine uses. */
export interface FileStat {
  dev: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  /** Size in bytes, exact (XFS and btrfs files reach 2^63-1, past what a Number holds). */
  size: bigint;
  /** 512-byte blocks allocated. */
  blocks: number;
  blksize: number;
  isFile: boolean;
  isDirectory: boolean;
  isSymbolicLink: boolean;
  /** Number of hard links. */
  nlink: number;
  /** Device number of a character or block device. */
  rdev: number;
  /** Access and modification times in nanoseconds since the epoch (exact, unlike a Number of ms). */
  atimeNs: bigint;
  mtimeNs: bigint;
}

/** An open directory (opendir(3)/readdir(3)). */
export interface DirReader {
  /** Up to `max` more names (never `.` or `..`), as bytes; empty at the end. */
  read(max: number): Buffer[];
  close(): void;
}

/** Where a metadata call acts: an open file descriptor, or a path (never followed if a symlink). */
export type FileRef = number | SysPath;

/** One extent as FS_IOC_FIEMAP reports it. */
export interface Extent {
  logical: bigint;
  physical: bigint;
  length: bigint;
  flags: number;
}

/** Result of one FIDEDUPERANGE destination. */
export interface DedupeResult {
  /** 0 = FILE_DEDUPE_RANGE_SAME, 1 = FILE_DEDUPE_RANGE_DIFFERS. */
  status: number;
  bytesDeduped: number;
}

export const FIEMAP_EXTENT_LAST = 0x1;
export const FIEMAP_EXTENT_UNKNOWN = 0x2;
export const FIEMAP_EXTENT_DELALLOC = 0x4;
export const FIEMAP_EXTENT_UNWRITTEN = 0x800;
export const FIEMAP_EXTENT_SHARED = 0x2000;
export const FILE_DEDUPE_RANGE_SAME = 0;
export const FILE_DEDUPE_RANGE_DIFFERS = 1;

/** A path as the kernel takes it: a string (UTF-8) or the raw bytes of a name that is not. */
export type SysPath = string | Buffer;

export interface Sys {
  open(path: SysPath, flags: number, mode?: number): number;
  close(fd: number): void;
  fstat(fd: number): FileStat;
  /** stat(2) following symlinks; lstat(2) when `follow` is false. */
  stat(path: SysPath, follow?: boolean): FileStat;
  /** copy_file_range(2) with explicit offsets; returns bytes copied (0 = kernel saw EOF). */
  copyFileRange(fdIn: number, offIn: Offset, fdOut: number, offOut: Offset, len: number): number;
  /** sendfile(2) from `inFd` at `offIn` to `outFd` at its current file position. */
  sendfile(outFd: number, inFd: number, offIn: Offset, len: number): number;
  /** pread(2) into buf[0, len); returns bytes read (0 = end of file). */
  pread(fd: number, buf: Buffer, len: number, pos: Offset | null): number;
  /** pwrite(2) of buf[0, len), or write(2) at the file position when `pos` is null; returns bytes written. */
  pwrite(fd: number, buf: Buffer, len: number, pos: Offset | null): number;
  /** lseek(2); SEEK_DATA/SEEK_HOLE answer null where the kernel says ENXIO (no more data). */
  lseek(fd: number, offset: Offset, whence: number): bigint | null;
  /** ioctl_ficlone(2): FICLONE, the whole of srcFd into dstFd. */
  ficlone(dstFd: number, srcFd: number): void;
  /** ioctl_ficlonerange(2): FICLONERANGE. */
  ficloneRange(dstFd: number, srcFd: number, srcOffset: Offset, length: Offset, dstOffset: Offset): void;
  /** ioctl_fideduperange(2): FIDEDUPERANGE for one destination. */
  dedupeRange(srcFd: number, srcOffset: Offset, length: Offset, dstFd: number, dstOffset: Offset): DedupeResult;
  /**
   * ioctl FS_IOC_FIEMAP over [start, start+length). `sync` asks the kernel to write dirty
   * data back first (FIEMAP_FLAG_SYNC), which can take as long as the copy itself.
   */
  fiemap(fd: number, start: Offset, length: Offset, sync?: boolean): Extent[];
  /** fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE. */
  punchHole(fd: number, offset: Offset, length: Offset): void;
  ftruncate(fd: number, length: Offset): void;
  fchmod(fd: number, mode: number): void;
  fchown(fd: number, uid: number, gid: number): void;
  fsync(fd: number): void;
  rename(from: SysPath, to: SysPath): void;
  /**
   * renameat2(2) with RENAME_EXCHANGE: `a` and `b` (both must exist) swap names in one step.
   * EINVAL where the filesystem cannot, ENOSYS where the kernel or C library cannot.
   */
  exchange(a: SysPath, b: SysPath): void;
  unlink(path: SysPath): void;
  realpath<P extends SysPath>(path: P): P;
  /** statfs(2) f_type of the filesystem holding `path`. */
  fsType(path: SysPath): number;
  /** ioctl FS_IOC_GETFLAGS: the inode flags chattr(1) sets (FS_*_FL). */
  getInodeFlags(fd: number): number;
  /** ioctl FS_IOC_SETFLAGS: replace the inode flags (the kernel ignores or refuses some). */
  setInodeFlags(fd: number, flags: number): void;
  /** cachestat(2) over the whole file: its pages in the page cache. ENOSYS before Linux 6.5. */
  cacheState(fd: number): CacheState;
  /** posix_fadvise(2) POSIX_FADV_DONTNEED over the whole file (dirty pages start writeback). */
  dropCache(fd: number): void;

  // Calls the tree copy makes (creating entries and carrying their metadata).
  /** opendir(3): a directory to read a bounded number of names at a time. */
  opendir(path: SysPath): DirReader;
  /** mkdir(2). */
  mkdir(path: SysPath, mode: number): void;
  /** symlink(2): a link at `path` whose target is exactly `target`'s bytes. */
  symlink(target: SysPath, path: SysPath): void;
  /** readlink(2), as bytes. */
  readlink(path: SysPath): Buffer;
  /** link(2): a new name for an existing file (symlinks not followed). */
  link(existing: SysPath, path: SysPath): void;
  /** linkat(2) of an open file (an O_TMPFILE file gets its first name so). EEXIST if `path` exists. */
  linkFd(fd: number, path: SysPath): void;
  /** mknodat(2): a FIFO, character or block device (`mode` holds the type bits). */
  mknod(path: SysPath, mode: number, rdev: number): void;
  /** lchown(2): symlinks are not followed. */
  lchown(path: SysPath, uid: number, gid: number): void;
  /** chmod(2). */
  chmod(path: SysPath, mode: number): void;
  /** utimensat(2) with nanoseconds; a path is not followed if it is a symlink. */
  setTimes(file: FileRef, atimeNs: bigint, mtimeNs: bigint): void;
  /** flistxattr(2) / llistxattr(2): the names of a file's extended attributes. */
  listXattrs(file: FileRef): string[];
  /** fgetxattr(2) / lgetxattr(2). */
  getXattr(file: FileRef, name: string): Buffer;
  /** fsetxattr(2) / lsetxattr(2). */
  setXattr(file: FileRef, name: string, value: Buffer): void;
  /** fremovexattr(2) / lremovexattr(2). */
  removeXattr(file: FileRef, name: string): void;
}

/** What cachestat(2) says of a file, in pages. */
export interface CacheState {
  cached: number;
  dirty: number;
  writeback: number;
}

/**
 * open(2) flag for an unnamed file in a directory (O_TMPFILE, which includes O_DIRECTORY):
 * nothing appears in the directory until linkFd() names it, and a crash leaves nothing.
 */
export const O_TMPFILE = 0o20000000 | 0o200000;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_SYMLINK_FOLLOW = 0x400;
const AT_EMPTY_PATH = 0x1000;
const RENAME_EXCHANGE = 0x2;
const EMPTY = Buffer.from([0]);
/** Whether linkat(AT_EMPTY_PATH) works for this process (it needs CAP_DAC_READ_SEARCH). */
let emptyPathLinks = true;

export const SEEK_SET = 0;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

// Request numbers: the generic _IOC encoding (x86, arm, riscv, s390, loongarch).
const FICLONE = 0x40049409; // _IOW(0x94, 9, int)
const FICLONERANGE = 0x4020940d; // _IOW(0x94, 13, struct file_clone_range)
const FIDEDUPERANGE = 0xc0189436; // _IOWR(0x94, 54, struct file_dedupe_range)
const FS_IOC_FIEMAP = 0xc020660b; // _IOWR('f', 11, struct fiemap)
// _IOR/_IOW('f', 1/2, long): the size field is the ABI's long, though the kernel moves an int.
const LONG_BYTES = process.arch === 'ia32' || process.arch === 'arm' ? 4 : 8;
const FS_IOC_GETFLAGS = (0x80006601 | (LONG_BYTES << 16)) >>> 0;
const FS_IOC_SETFLAGS = (0x40006602 | (LONG_BYTES << 16)) >>> 0;
const FIEMAP_FLAG_SYNC = 0x1;
const FALLOC_FL_KEEP_SIZE = 0x1;
const FALLOC_FL_PUNCH_HOLE = 0x2;
/** The same number on every architecture Linux runs Node on (s390 31-bit aside). */
const POSIX_FADV_DONTNEED = 4;
const FIEMAP_EXTENTS_PER_CALL = 256;

function isSafe(n: Offset): boolean {
  return typeof n === 'number' || (n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= -BigInt(Number.MAX_SAFE_INTEGER));
}

function check(ret: number, syscall: string): number {
  if (ret < 0) throw new SysError(libc().errno(), syscall);
  return ret;
}

const STATX_BASIC_STATS = 0x7ff;
/** One buffer for every statx(2) call of this thread: the result is parsed at once. */
const statxBuffer = Buffer.alloc(256);

/** glibc's makedev(3), so device numbers match what node:fs reports. */
function makedev(major: number, minor: number): number {
  // The usual case in plain arithmetic (no BigInt): 12-bit major, 20-bit minor.
  if (major < 0x1000 && minor < 0x100000) return major * 256 + (minor & 0xff) + Math.floor(minor / 256) * 1048576;
  return Number(
    ((BigInt(major) & 0xfffff000n) << 32n) | ((BigInt(major) & 0xfffn) << 8n) | ((BigInt(minor) & 0xffffff00n) << 12n) | (BigInt(minor) & 0xffn),
  );
}

const S_IFMT = 0o170000;

/**
 * statx(2) straight through koffi: a fifth of what node:fs costs per call (it builds Date
 * objects and BigInts for every field), with the times to the nanosecond. A tree copy makes
 * several of these per file.
 */
function statx(dirFd: number, path: Buffer, flags: number, syscall: string, shownPath?: SysPath): FileStat {
  const c = libc();
  const b = statxBuffer;
  if (c.statx(dirFd, path, flags, STATX_BASIC_STATS, b) < 0) {
    throw new SysError(c.errno(), syscall, shownPath === undefined ? undefined : String(shownPath));
  }
  const mode = b.readUInt16LE(28);
  const type = mode & S_IFMT;
  return new StatxResult({
    dev: makedev(b.readUInt32LE(136), b.readUInt32LE(140)),
    ino: Number(b.readBigUInt64LE(32)),
    mode,
    uid: b.readUInt32LE(20),
    gid: b.readUInt32LE(24),
    size: b.readBigUInt64LE(40),
    blocks: Number(b.readBigUInt64LE(48)),
    blksize: b.readUInt32LE(4),
    isFile: type === 0o100000,
    isDirectory: type === 0o040000,
    isSymbolicLink: type === 0o120000,
    nlink: b.readUInt32LE(16),
    rdev: makedev(b.readUInt32LE(128), b.readUInt32LE(132)),
    atimeSec: Number(b.readBigInt64LE(64)),
    atimeNsec: b.readUInt32LE(72),
    mtimeSec: Number(b.readBigInt64LE(112)),
    mtimeNsec: b.readUInt32LE(120),
  });
}

/** A FileStat whose nanosecond times are made into BigInts only when asked for. */
class StatxResult implements FileStat {
  dev!: number;
  ino!: number;
  mode!: number;
  uid!: number;
  gid!: number;
  size!: bigint;
  blocks!: number;
  blksize!: number;
  isFile!: boolean;
  isDirectory!: boolean;
  isSymbolicLink!: boolean;
  nlink!: number;
  rdev!: number;
  private atimeSec!: number;
  private atimeNsec!: number;
  private mtimeSec!: number;
  private mtimeNsec!: number;

  constructor(fields: Omit<FileStat, 'atimeNs' | 'mtimeNs'> & { atimeSec: number; atimeNsec: number; mtimeSec: number; mtimeNsec: number }) {
    Object.assign(this, fields);
  }

  get atimeNs(): bigint {
    return BigInt(this.atimeSec) * 1_000_000_000n + BigInt(this.atimeNsec);
  }

  get mtimeNs(): bigint {
    return BigInt(this.mtimeSec) * 1_000_000_000n + BigInt(this.mtimeNsec);
  }
}

/** A path as the C library takes it: its bytes and a terminating NUL. */
function cPath(p: SysPath): Buffer {
  const bytes = typeof p === 'string' ? Buffer.from(p) : p;
  const out = Buffer.allocUnsafe(bytes.length + 1);
  bytes.copy(out);
  out[bytes.length] = 0;
  return out;
}

/** Two struct timespec {int64 tv_sec; long tv_nsec} for utimensat(2). */
function timespecs(atimeNs: bigint, mtimeNs: bigint): Buffer {
  const buf = Buffer.alloc(32);
  const NS = 1_000_000_000n;
  // Floor division, so times before 1970 keep a tv_nsec in [0, 1e9).
  const put = (ns: bigint, at: number) => {
    let sec = ns / NS;
    let nsec = ns % NS;
    if (nsec < 0n) {
      sec -= 1n;
      nsec += NS;
    }
    buf.writeBigInt64LE(sec, at);
    buf.writeBigInt64LE(nsec, at + 8);
  };
  put(atimeNs, 0);
  put(mtimeNs, 16);
  return buf;
}

const xattrListBuffer = Buffer.alloc(4096);

/** Call a *xattr function twice: once for the size, once for the bytes (again if it grew). */
function xattrBytes(call: (buf: Buffer | null, size: number) => number, syscall: string): Buffer {
  for (;;) {
    const size = check(call(null, 0), syscall);
    if (size === 0) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(size);
    const got = call(buf, size);
    if (got >= 0) return buf.subarray(0, got);
    const errno = libc().errno();
    if (errno !== 34 /* ERANGE: it grew in between */) throw new SysError(errno, syscall);
  }
}

/** Call a node:fs function, turning its error into a SysError. */
function nodeCall<T>(syscall: string, path: SysPath | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNodeError(err, syscall, path === undefined ? undefined : String(path));
  }
}

/** The real system calls. */
export const linuxSys: Sys = {
  open: (path, flags, mode = 0o666) => nodeCall('open', path, () => fs.openSync(path, flags, mode)),
  close: (fd) => nodeCall('close', undefined, () => fs.closeSync(fd)),
  fstat: (fd) => statx(fd, EMPTY, AT_EMPTY_PATH, 'fstat'),
  stat: (path, follow = true) => statx(AT_FDCWD, cPath(path), follow ? 0 : AT_SYMLINK_NOFOLLOW, follow ? 'stat' : 'lstat', path),

  copyFileRange(fdIn, offIn, fdOut, offOut, len) {
    const c = libc();
    const inPos = new BigInt64Array([BigInt(offIn)]);
    const outPos = new BigInt64Array([BigInt(offOut)]);
    return check(c.copyFileRange(fdIn, inPos, fdOut, outPos, len), 'copy_file_range');
  },

  sendfile(outFd, inFd, offIn, len) {
    const c = libc();
    return check(c.sendfile(outFd, inFd, new BigInt64Array([BigInt(offIn)]), len), 'sendfile');
  },

  // node:fs where its Number positions are exact; past 2^53 pread64/pwrite64 (fs.writeSync
  // takes a bigint position as "no position" and would write at the file offset instead).
  pread(fd, buf, len, pos) {
    if (pos === null || isSafe(pos)) return nodeCall('read', undefined, () => fs.readSync(fd, buf, 0, len, pos === null ? null : Number(pos)));
    return check(libc().pread(fd, buf, len, BigInt(pos)), 'read');
  },
  pwrite(fd, buf, len, pos) {
    if (pos === null || isSafe(pos)) return nodeCall('write', undefined, () => fs.writeSync(fd, buf, 0, len, pos === null ? null : Number(pos)));
    return check(libc().pwrite(fd, buf, len, BigInt(pos)), 'write');
  },

  lseek(fd, offset, whence) {
    const c = libc();
    const ret = c.lseek(fd, BigInt(offset), whence);
    if (ret < 0n) {
      const errno = c.errno();
      if (errno === 6 /* ENXIO */ && (whence === SEEK_DATA || whence === SEEK_HOLE)) return null;
      throw new SysError(errno, 'lseek');
    }
    return ret;
  },

  ficlone(dstFd, srcFd) {
    check(libc().ioctlInt(dstFd, FICLONE, srcFd), 'ioctl(FICLONE)');
  },

  ficloneRange(dstFd, srcFd, srcOffset, length, dstOffset) {
    const arg = Buffer.alloc(32);
    arg.writeBigInt64LE(BigInt(srcFd), 0);
    arg.writeBigUInt64LE(BigInt(srcOffset), 8);
    arg.writeBigUInt64LE(BigInt(length), 16);
    arg.writeBigUInt64LE(BigInt(dstOffset), 24);
    check(libc().ioctlPtr(dstFd, FICLONERANGE, arg), 'ioctl(FICLONERANGE)');
  },

  dedupeRange(srcFd, srcOffset, length, dstFd, dstOffset) {
    // struct file_dedupe_range (24 bytes) followed by one file_dedupe_range_info (32 bytes).
    const arg = Buffer.alloc(24 + 32);
    arg.writeBigUInt64LE(BigInt(srcOffset), 0);
    arg.writeBigUInt64LE(BigInt(length), 8);
    arg.writeUInt16LE(1, 16);
    arg.writeBigInt64LE(BigInt(dstFd), 24);
    arg.writeBigUInt64LE(BigInt(dstOffset), 32);
    check(libc().ioctlPtr(srcFd, FIDEDUPERANGE, arg), 'ioctl(FIDEDUPERANGE)');
    // The ioctl returns 0 even when the destination failed: its own status says so.
    const status = arg.readInt32LE(24 + 24);
    if (status < 0) throw new SysError(-status, 'ioctl(FIDEDUPERANGE)');
    return { status, bytesDeduped: Number(arg.readBigUInt64LE(24 + 16)) };
  },

  fiemap(fd, start, length, sync = false) {
    const extents: Extent[] = [];
    const buf = Buffer.alloc(32 + 56 * FIEMAP_EXTENTS_PER_CALL);
    const end = BigInt(start) + BigInt(length);
    let pos = BigInt(start);
    while (pos < end) {
      buf.fill(0);
      buf.writeBigUInt64LE(pos, 0);
      buf.writeBigUInt64LE(end - pos, 8);
      buf.writeUInt32LE(sync ? FIEMAP_FLAG_SYNC : 0, 16);
      buf.writeUInt32LE(FIEMAP_EXTENTS_PER_CALL, 24);
      check(libc().ioctlPtr(fd, FS_IOC_FIEMAP, buf), 'ioctl(FS_IOC_FIEMAP)');
      const mapped = buf.readUInt32LE(20);
      if (mapped === 0) break;
      let last = false;
      for (let i = 0; i < mapped; i++) {
        const at = 32 + 56 * i;
        const extent = {
          logical: buf.readBigUInt64LE(at),
          physical: buf.readBigUInt64LE(at + 8),
          length: buf.readBigUInt64LE(at + 16),
          flags: buf.readUInt32LE(at + 40),
        };
        extents.push(extent);
        pos = extent.logical + extent.length;
        if (extent.flags & FIEMAP_EXTENT_LAST) last = true;
      }
      if (last) break;
    }
    return extents;
  },

  punchHole(fd, offset, length) {
    check(libc().fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, BigInt(offset), BigInt(length)), 'fallocate');
  },

  // ftruncate64: fs.ftruncateSync refuses lengths past 2^53 with a RangeError.
  ftruncate(fd, length) {
    check(libc().ftruncate(fd, BigInt(length)), 'ftruncate');
  },
  fchmod: (fd, mode) => nodeCall('fchmod', undefined, () => fs.fchmodSync(fd, mode)),
  fchown: (fd, uid, gid) => nodeCall('fchown', undefined, () => fs.fchownSync(fd, uid, gid)),
  fsync: (fd) => nodeCall('fsync', undefined, () => fs.fsyncSync(fd)),
  rename: (from, to) => nodeCall('rename', to, () => fs.renameSync(from, to)),
  exchange(a, b) {
    const c = libc();
    if (!c.renameat2) throw new SysError(38 /* ENOSYS */, 'renameat2', String(b));
    if (c.renameat2(AT_FDCWD, cPath(a), AT_FDCWD, cPath(b), RENAME_EXCHANGE) < 0) throw new SysError(c.errno(), 'renameat2', String(b));
  },
  unlink: (path) => nodeCall('unlink', path, () => fs.unlinkSync(path)),
  realpath: <P extends SysPath>(path: P): P =>
    nodeCall('realpath', path, () => (typeof path === 'string' ? fs.realpathSync(path) : fs.realpathSync(path, { encoding: 'buffer' })) as P),
  fsType: (path) => nodeCall('statfs', path, () => fs.statfsSync(path).type),

  getInodeFlags(fd) {
    // The kernel writes an int; a long's worth of zeroed room costs nothing.
    const arg = Buffer.alloc(8);
    check(libc().ioctlPtr(fd, FS_IOC_GETFLAGS, arg), 'ioctl(FS_IOC_GETFLAGS)');
    return arg.readUInt32LE(0);
  },

  setInodeFlags(fd, flags) {
    const arg = Buffer.alloc(8);
    arg.writeUInt32LE(flags >>> 0, 0);
    check(libc().ioctlPtr(fd, FS_IOC_SETFLAGS, arg), 'ioctl(FS_IOC_SETFLAGS)');
  },

  cacheState(fd) {
    // Offset 0 and length 0: the whole file, however long.
    const range = Buffer.alloc(16);
    const out = Buffer.alloc(40);
    check(libc().cachestat(fd, range, out), 'cachestat');
    return { cached: Number(out.readBigUInt64LE(0)), dirty: Number(out.readBigUInt64LE(8)), writeback: Number(out.readBigUInt64LE(16)) };
  },

  dropCache(fd) {
    const error = libc().fadvise(fd, 0n, 0n, POSIX_FADV_DONTNEED);
    if (error !== 0) throw new SysError(error, 'posix_fadvise');
  },

  opendir(path) {
    const dir = nodeCall('opendir', path, () => fs.opendirSync(path, { encoding: 'buffer' as BufferEncoding, bufferSize: 256 }));
    return {
      read(max) {
        const names: Buffer[] = [];
        while (names.length < max) {
          const entry = nodeCall('readdir', path, () => dir.readSync());
          if (entry === null) break;
          names.push(entry.name as unknown as Buffer);
        }
        return names;
      },
      close: () => nodeCall('closedir', path, () => dir.closeSync()),
    };
  },
  mkdir: (path, mode) => nodeCall('mkdir', path, () => void fs.mkdirSync(path, { mode })),
  symlink: (target, path) => nodeCall('symlink', path, () => fs.symlinkSync(target, path)),
  readlink: (path) => nodeCall('readlink', path, () => fs.readlinkSync(path, { encoding: 'buffer' })),
  link: (existing, path) => nodeCall('link', path, () => fs.linkSync(existing, path)),
  linkFd(fd, path) {
    const c = libc();
    // AT_EMPTY_PATH names the file by its descriptor; it needs CAP_DAC_READ_SEARCH (root has
    // it) and answers ENOENT without. Then the /proc/self/fd link, followed, does the same
    // for anyone, at the cost of a path lookup through /proc.
    if (emptyPathLinks) {
      if (c.linkat(fd, EMPTY, AT_FDCWD, cPath(path), AT_EMPTY_PATH) === 0) return;
      const errno = c.errno();
      if (errno !== 2 /* ENOENT */) throw new SysError(errno, 'linkat', String(path));
      emptyPathLinks = false;
    }
    const ret = c.linkat(AT_FDCWD, cPath(`/proc/self/fd/${fd}`), AT_FDCWD, cPath(path), AT_SYMLINK_FOLLOW);
    if (ret < 0) throw new SysError(c.errno(), 'linkat', String(path));
  },
  mknod(path, mode, rdev) {
    if (libc().mknodat(AT_FDCWD, cPath(path), mode, BigInt(rdev)) < 0) throw new SysError(libc().errno(), 'mknod', String(path));
  },
  lchown: (path, uid, gid) => nodeCall('lchown', path, () => fs.lchownSync(path, uid, gid)),
  chmod: (path, mode) => nodeCall('chmod', path, () => fs.chmodSync(path, mode)),
  setTimes(file, atimeNs, mtimeNs) {
    const c = libc();
    const times = timespecs(atimeNs, mtimeNs);
    const ret = typeof file === 'number' ? c.futimens(file, times) : c.utimensat(AT_FDCWD, cPath(file), times, AT_SYMLINK_NOFOLLOW);
    if (ret < 0) throw new SysError(c.errno(), 'utimensat', typeof file === 'number' ? undefined : String(file));
  },
  listXattrs(file) {
    const c = libc();
    const list = (buf: Buffer | null, size: number) => (typeof file === 'number' ? c.flistxattr(file, buf, size) : c.llistxattr(cPath(file), buf, size));
    // Most files have no xattrs or a short list: one call into a ready buffer says so.
    const first = list(xattrListBuffer, xattrListBuffer.length);
    let raw: Buffer;
    if (first >= 0) raw = xattrListBuffer.subarray(0, first);
    else if (c.errno() === 34 /* ERANGE */) raw = xattrBytes(list, typeof file === 'number' ? 'flistxattr' : 'llistxattr');
    else throw new SysError(c.errno(), typeof file === 'number' ? 'flistxattr' : 'llistxattr', typeof file === 'number' ? undefined : String(file));
    if (raw.length === 0) return [];
    // Names are NUL-terminated; latin1 keeps every byte as one character, both ways.
    return raw.toString('latin1').split('\0').filter((n) => n.length > 0);
  },
  getXattr(file, name) {
    const c = libc();
    const key = cPath(Buffer.from(name, 'latin1'));
    return typeof file === 'number'
      ? xattrBytes((buf, size) => c.fgetxattr(file, key, buf, size), 'fgetxattr')
      : xattrBytes((buf, size) => c.lgetxattr(cPath(file), key, buf, size), 'lgetxattr');
  },
  setXattr(file, name, value) {
    const c = libc();
    const key = cPath(Buffer.from(name, 'latin1'));
    const ret = typeof file === 'number' ? c.fsetxattr(file, key, value, value.length, 0) : c.lsetxattr(cPath(file), key, value, value.length, 0);
    if (ret < 0) throw new SysError(c.errno(), typeof file === 'number' ? 'fsetxattr' : 'lsetxattr', typeof file === 'number' ? undefined : String(file));
  },
  removeXattr(file, name) {
    const c = libc();
    const key = cPath(Buffer.from(name, 'latin1'));
    const ret = typeof file === 'number' ? c.fremovexattr(file, key) : c.lremovexattr(cPath(file), key);
    if (ret < 0) throw new SysError(c.errno(), typeof file === 'number' ? 'fremovexattr' : 'lremovexattr', typeof file === 'number' ? undefined : String(file));
  },
};
