/**
 * koffi bindings to the few libc entry points tscp needs and Node does not offer:
 * syscall(2) (for copy_file_range), ioctl(2) (FICLONE, FICLONERANGE, FIDEDUPERANGE,
 * FS_IOC_FIEMAP, FS_IOC_GETFLAGS, FS_IOC_SETFLAGS), lseek(2) with SEEK_DATA/SEEK_HOLE,
 * sendfile(2) and fallocate(2), and for trees linkat(2) (to name an O_TMPFILE file),
 * mknodat(2), utimensat(2) (nanosecond times) and the *xattr(2) family, and renameat2(2)
 * (RENAME_EXCHANGE, which Node's fs.rename cannot ask for), and cachestat(2) with
 * posix_fadvise(2) (how much of a file is cached and dirty; drop its clean pages), and
 * dup2(2) (src/sys/stdio-at-exit.ts).
 *
 * Every function returns the raw result and, on failure, the errno read with
 * koffi.errno() immediately after the call (any other libc call in between, including
 * Node's own fs calls, may overwrite it).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { LibraryHandle } from 'koffi';
import { IN_BUNDLE } from './bundle.js';

type Koffi = (typeof import('koffi'))['default'];

/**
 * koffi's native module, loaded straight from its platform package (koffi's own loader
 * looks for the same file) when that package sits beside koffi at koffi's version; else
 * through koffi's entry. koffi's entry adds only warnings for its deprecated functions on
 * top of the native module, and costs 4-8 ms of a run's start (bench: `require koffi`
 * 11.5 ms, the platform package 7.3 ms; a sparse copy 7.8 ms sooner, median of 12 pairs).
 */
function loadKoffi(): Koffi {
  const require = createRequire(IN_BUNDLE ? __filename : import.meta.url);
  try {
    const entry = require.resolve('koffi');
    const version = (JSON.parse(readFileSync(`${dirname(entry)}/package.json`, 'utf8')) as { version: string }).version;
    const native = require(`@koromix/koffi-${process.platform}-${process.arch}`) as Koffi & { version?: string };
    if (native.version === version) return native;
  } catch {
    // Not there (another layout, another platform): koffi's entry finds it.
  }
  return require('koffi') as Koffi;
}

let koffi: Koffi;

/** Syscall numbers of copy_file_range(2) by Node's process.arch. */
const COPY_FILE_RANGE_NR: Record<string, number> = {
  x64: 326,
  arm64: 285,
  riscv64: 285,
  loong64: 285,
  ia32: 377,
  arm: 391,
  s390x: 375,
};

/**
 * cachestat(2) (Linux 6.5) is 451 wherever the syscall table is the shared one; the
 * architectures above all use it for syscalls added after 2019.
 */
const CACHESTAT_NR = 451;

/**
 * The architectures whose ioctl numbers follow the generic _IOC encoding used below
 * (powerpc, mips and sparc encode direction and size differently).
 */
export function copyFileRangeSyscallNumber(arch: string = process.arch): number {
  const nr = COPY_FILE_RANGE_NR[arch];
  if (nr === undefined) {
    throw new Error(
      `tscp does not know the copy_file_range syscall number on architecture '${arch}' ` +
        `(supported: ${Object.keys(COPY_FILE_RANGE_NR).join(', ')})`,
    );
  }
  return nr;
}

export interface Libc {
  /** syscall(SYS_copy_file_range, ...): returns bytes copied or -1. */
  copyFileRange(fdIn: number, offIn: BigInt64Array, fdOut: number, offOut: BigInt64Array, len: number): number;
  ioctlInt(fd: number, request: number, arg: number): number;
  ioctlPtr(fd: number, request: number, arg: Buffer): number;
  /** lseek64(2): the new offset as a BigInt (exact to 2^63-1), or -1n. */
  lseek(fd: number, offset: bigint, whence: number): bigint;
  sendfile(outFd: number, inFd: number, offset: BigInt64Array, count: number): number;
  fallocate(fd: number, mode: number, offset: bigint, len: bigint): number;
  /** ftruncate64(2) and pwrite64(2)/pread64(2): 64-bit offsets, where node:fs stops at 2^53. */
  ftruncate(fd: number, length: bigint): number;
  pwrite(fd: number, buf: Buffer, count: number, offset: bigint): number;
  pread(fd: number, buf: Buffer, count: number, offset: bigint): number;
  /** linkat(2); paths are NUL-terminated byte strings. */
  linkat(oldDirFd: number, oldPath: Buffer, newDirFd: number, newPath: Buffer, flags: number): number;
  /** renameat2(2); null where this C library lacks it (glibc before 2.28). */
  renameat2: ((oldDirFd: number, oldPath: Buffer, newDirFd: number, newPath: Buffer, flags: number) => number) | null;
  /** mknodat(2). */
  mknodat(dirFd: number, path: Buffer, mode: number, dev: bigint): number;
  /** utimensat(2) and futimens(3); `times` is two struct timespec (32 bytes). */
  utimensat(dirFd: number, path: Buffer, times: Buffer, flags: number): number;
  futimens(fd: number, times: Buffer): number;
  /** statx(2) into a 256-byte buffer. */
  statx(dirFd: number, path: Buffer, flags: number, mask: number, buf: Buffer): number;
  /** flistxattr(2) / llistxattr(2): the names, NUL-separated, into `list` (or the size needed when it is null). */
  flistxattr(fd: number, list: Buffer | null, size: number): number;
  llistxattr(path: Buffer, list: Buffer | null, size: number): number;
  /** fgetxattr(2) / lgetxattr(2). */
  fgetxattr(fd: number, name: Buffer, value: Buffer | null, size: number): number;
  lgetxattr(path: Buffer, name: Buffer, value: Buffer | null, size: number): number;
  /** fsetxattr(2) / lsetxattr(2). */
  fsetxattr(fd: number, name: Buffer, value: Buffer, size: number, flags: number): number;
  lsetxattr(path: Buffer, name: Buffer, value: Buffer, size: number, flags: number): number;
  /** fremovexattr(2) / lremovexattr(2). */
  fremovexattr(fd: number, name: Buffer): number;
  lremovexattr(path: Buffer, name: Buffer): number;
  /** syscall(SYS_cachestat, fd, range, out, 0): `range` is 16 bytes, `out` 40; 0 or -1. */
  cachestat(fd: number, range: Buffer, out: Buffer): number;
  /** posix_fadvise64(3): returns the error number itself (0 when done), not -1 and errno. */
  fadvise(fd: number, offset: bigint, len: bigint, advice: number): number;
  /** dup2(2): `newFd` becomes a copy of `oldFd`, atomically (node:fs has no dup2). */
  dup2(oldFd: number, newFd: number): number;
  errno(): number;
}

let loaded: Libc | undefined;

/** A libc function that older C libraries lack: null there, instead of failing the whole load. */
function optionalFunc(lib: LibraryHandle, signature: string): ReturnType<LibraryHandle['func']> | null {
  try {
    return lib.func(signature);
  } catch {
    return null;
  }
}

/** Bind libc on first use, so that `tscp --help` never loads native code. */
export function libc(): Libc {
  if (loaded) return loaded;
  const nr = copyFileRangeSyscallNumber();
  koffi ??= loadKoffi();
  koffi.alias('tscp_loff_t', 'int64_t');
  const lib = koffi.load('libc.so.6');
  const syscall = lib.func('long syscall(long number, ...)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  // The *64 entry points take 64-bit offsets on every architecture (on 64-bit ones they
  // are aliases of the plain names).
  const lseek64 = lib.func('int64_t lseek64(int fd, int64_t offset, int whence)');
  const sendfile64 = lib.func('long sendfile64(int out_fd, int in_fd, int64_t *offset, size_t count)');
  const fallocate64 = lib.func('int fallocate64(int fd, int mode, int64_t offset, int64_t len)');
  const ftruncate64 = lib.func('int ftruncate64(int fd, int64_t length)');
  const pwrite64 = lib.func('long pwrite64(int fd, const void *buf, size_t count, int64_t offset)');
  const pread64 = lib.func('long pread64(int fd, void *buf, size_t count, int64_t offset)');
  // Paths and names go in as bytes (a name need not be UTF-8), so they are void pointers.
  const linkat = lib.func('int linkat(int olddirfd, const void *oldpath, int newdirfd, const void *newpath, int flags)');
  const renameat2 = optionalFunc(lib, 'int renameat2(int olddirfd, const void *oldpath, int newdirfd, const void *newpath, unsigned int flags)');
  const mknodat = lib.func('int mknodat(int dirfd, const void *path, uint32_t mode, uint64_t dev)');
  const utimensat = lib.func('int utimensat(int dirfd, const void *path, const void *times, int flags)');
  const futimens = lib.func('int futimens(int fd, const void *times)');
  const statx = lib.func('int statx(int dirfd, const void *path, int flags, unsigned int mask, void *buf)');
  const flistxattr = lib.func('long flistxattr(int fd, void *list, size_t size)');
  const llistxattr = lib.func('long llistxattr(const void *path, void *list, size_t size)');
  const fgetxattr = lib.func('long fgetxattr(int fd, const void *name, void *value, size_t size)');
  const lgetxattr = lib.func('long lgetxattr(const void *path, const void *name, void *value, size_t size)');
  const fsetxattr = lib.func('int fsetxattr(int fd, const void *name, const void *value, size_t size, int flags)');
  const lsetxattr = lib.func('int lsetxattr(const void *path, const void *name, const void *value, size_t size, int flags)');
  const fremovexattr = lib.func('int fremovexattr(int fd, const void *name)');
  const lremovexattr = lib.func('int lremovexattr(const void *path, const void *name)');
  const fadvise64 = lib.func('int posix_fadvise64(int fd, int64_t offset, int64_t len, int advice)');
  const dup2 = lib.func('int dup2(int oldfd, int newfd)');
  loaded = {
    copyFileRange: (fdIn, offIn, fdOut, offOut, len) =>
      Number(
        syscall(nr, 'int', fdIn, 'tscp_loff_t *', offIn, 'int', fdOut, 'tscp_loff_t *', offOut, 'size_t', len, 'unsigned int', 0),
      ),
    ioctlInt: (fd, request, arg) => ioctl(fd, request, 'int', arg) as number,
    ioctlPtr: (fd, request, arg) => ioctl(fd, request, 'void *', arg) as number,
    // koffi gives an int64_t result as a Number when it is a safe integer, else a BigInt.
    lseek: (fd, offset, whence) => BigInt(lseek64(fd, offset, whence)),
    sendfile: (outFd, inFd, offset, count) => Number(sendfile64(outFd, inFd, offset, count)),
    fallocate: (fd, mode, offset, len) => fallocate64(fd, mode, offset, len) as number,
    ftruncate: (fd, length) => ftruncate64(fd, length) as number,
    pwrite: (fd, buf, count, offset) => Number(pwrite64(fd, buf, count, offset)),
    pread: (fd, buf, count, offset) => Number(pread64(fd, buf, count, offset)),
    linkat: (oldDirFd, oldPath, newDirFd, newPath, flags) => linkat(oldDirFd, oldPath, newDirFd, newPath, flags) as number,
    renameat2: renameat2 && ((oldDirFd, oldPath, newDirFd, newPath, flags) => renameat2(oldDirFd, oldPath, newDirFd, newPath, flags) as number),
    mknodat: (dirFd, path, mode, dev) => mknodat(dirFd, path, mode, dev) as number,
    utimensat: (dirFd, path, times, flags) => utimensat(dirFd, path, times, flags) as number,
    futimens: (fd, times) => futimens(fd, times) as number,
    statx: (dirFd, path, flags, mask, buf) => statx(dirFd, path, flags, mask, buf) as number,
    flistxattr: (fd, list, size) => Number(flistxattr(fd, list, size)),
    llistxattr: (path, list, size) => Number(llistxattr(path, list, size)),
    fgetxattr: (fd, name, value, size) => Number(fgetxattr(fd, name, value, size)),
    lgetxattr: (path, name, value, size) => Number(lgetxattr(path, name, value, size)),
    fsetxattr: (fd, name, value, size, flags) => fsetxattr(fd, name, value, size, flags) as number,
    lsetxattr: (path, name, value, size, flags) => lsetxattr(path, name, value, size, flags) as number,
    fremovexattr: (fd, name) => fremovexattr(fd, name) as number,
    lremovexattr: (path, name) => lremovexattr(path, name) as number,
    cachestat: (fd, range, out) => Number(syscall(CACHESTAT_NR, 'unsigned int', fd, 'void *', range, 'void *', out, 'unsigned int', 0)),
    fadvise: (fd, offset, len, advice) => fadvise64(fd, offset, len, advice) as number,
    dup2: (oldFd, newFd) => dup2(oldFd, newFd) as number,
    errno: () => koffi.errno(),
  };
  return loaded;
}
