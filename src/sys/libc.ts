/**
 * koffi bindings to the few libc entry points tscp needs and Node does not offer:
 * syscall(2) (for copy_file_range), ioctl(2) (FICLONE, FICLONERANGE, FIDEDUPERANGE,
 * FS_IOC_FIEMAP), lseek(2) with SEEK_DATA/SEEK_HOLE, sendfile(2) and fallocate(2).
 *
 * Every function returns the raw result and, on failure, the errno read with
 * koffi.errno() immediately after the call (any other libc call in between, including
 * Node's own fs calls, may overwrite it).
 */
import koffi from 'koffi';

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
  lseek(fd: number, offset: number, whence: number): number;
  sendfile(outFd: number, inFd: number, offset: BigInt64Array, count: number): number;
  fallocate(fd: number, mode: number, offset: number, len: number): number;
  errno(): number;
}

let loaded: Libc | undefined;

/** Bind libc on first use, so that `tscp --help` never loads native code. */
export function libc(): Libc {
  if (loaded) return loaded;
  const nr = copyFileRangeSyscallNumber();
  koffi.alias('tscp_loff_t', 'int64_t');
  const lib = koffi.load('libc.so.6');
  const syscall = lib.func('long syscall(long number, ...)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  // The *64 entry points take 64-bit offsets on every architecture (on 64-bit ones they
  // are aliases of the plain names).
  const lseek64 = lib.func('int64_t lseek64(int fd, int64_t offset, int whence)');
  const sendfile64 = lib.func('long sendfile64(int out_fd, int in_fd, int64_t *offset, size_t count)');
  const fallocate64 = lib.func('int fallocate64(int fd, int mode, int64_t offset, int64_t len)');
  loaded = {
    copyFileRange: (fdIn, offIn, fdOut, offOut, len) =>
      Number(
        syscall(nr, 'int', fdIn, 'tscp_loff_t *', offIn, 'int', fdOut, 'tscp_loff_t *', offOut, 'size_t', len, 'unsigned int', 0),
      ),
    ioctlInt: (fd, request, arg) => ioctl(fd, request, 'int', arg) as number,
    ioctlPtr: (fd, request, arg) => ioctl(fd, request, 'void *', arg) as number,
    lseek: (fd, offset, whence) => Number(lseek64(fd, offset, whence)),
    sendfile: (outFd, inFd, offset, count) => Number(sendfile64(outFd, inFd, offset, count)),
    fallocate: (fd, mode, offset, len) => fallocate64(fd, mode, offset, len) as number,
    errno: () => koffi.errno(),
  };
  return loaded;
}
