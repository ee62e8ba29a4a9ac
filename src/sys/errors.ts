/**
 * Errors raised by the sys layer: a failed system call, named by its errno.
 *
 * The sys layer never decides what an errno *means* for a copy (fall back, retry,
 * give up); it only reports which call failed, with which errno, on which paths.
 */
import { constants as osConstants } from 'node:os';

const errnoNumbers: Record<string, number> = osConstants.errno as Record<string, number>;

// Several errno names share a number on Linux; these are the names the man pages use.
const preferredNames: Record<number, string> = {
  11: 'EAGAIN',
  35: 'EDEADLK',
  95: 'EOPNOTSUPP',
};

const namesByNumber = new Map<number, string>();
for (const [name, num] of Object.entries(errnoNumbers)) {
  if (!namesByNumber.has(num)) namesByNumber.set(num, name);
}
for (const [num, name] of Object.entries(preferredNames)) namesByNumber.set(Number(num), name);

// Messages as glibc's strerror() words them, so tscp's errors read like cp's.
// Kept as a table rather than a koffi call so that error paths never load native code.
const messages: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  ENODATA: 'No data available',
  ERANGE: 'Numerical result out of range',
  ENOTEMPTY: 'Directory not empty',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  EPIPE: 'Broken pipe',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  ELOOP: 'Too many levels of symbolic links',
  EOVERFLOW: 'Value too large for defined data type',
  EILSEQ: 'Invalid or incomplete multibyte or wide character',
  EOPNOTSUPP: 'Operation not supported',
  EDQUOT: 'Disk quota exceeded',
  ESTALE: 'Stale file handle',
  ECANCELED: 'Operation canceled',
};

/** The symbolic name of an errno number ("EXDEV"), or "E<number>" when unknown. */
export function errnoName(errno: number): string {
  return namesByNumber.get(errno) ?? `E${errno}`;
}

/** The number of an errno name, or undefined. */
export function errnoNumber(name: string): number | undefined {
  if (name === 'EOPNOTSUPP') return 95;
  return errnoNumbers[name];
}

/** The strerror(3) text for an errno name. */
export function errnoMessage(name: string): string {
  return messages[name] ?? `Unknown error ${name}`;
}

/** A system call failed. `code` is the errno name, as in Node's own errors. */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;

  constructor(errno: number, syscall: string, path?: string) {
    const code = errnoName(errno);
    super(`${syscall}${path === undefined ? '' : ` '${path}'`}: ${errnoMessage(code)} (${code})`);
    this.name = 'SysError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }
}

/** True when `err` is a SysError with one of the given errno names. */
export function isErrno(err: unknown, ...codes: string[]): err is SysError {
  return err instanceof SysError && codes.includes(err.code);
}

/** Turn an error thrown by node:fs into a SysError; anything else is re-thrown. */
export function fromNodeError(err: unknown, syscall: string, path?: string): SysError {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.errno === 'number' && typeof e.code === 'string') {
    return new SysError(Math.abs(e.errno), syscall, path);
  }
  throw err;
}
