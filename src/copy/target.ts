/**
 * Where a whole-file copy writes: an unnamed (O_TMPFILE) or named temporary file beside
 * DEST that becomes DEST only once complete, or DEST itself (--inplace and the cases where
 * a new inode would lose what cp keeps).
 */
import { constants as fsConstants } from 'node:fs';
import { O_TMPFILE, SysError, isErrno, type FileStat, type Sys, type SysPath } from '../sys/index.js';
import { CopyError } from './errors.js';
import { closeQuietly, fail, fsyncDirectory, removeQuietly, syncing, type Job } from './job.js';
import { dirName, tempPathBeside } from './paths.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fsConstants;

/**
 * The inode flags (chattr) of an existing DEST that the file replacing it is given, because
 * cp, writing into DEST, leaves them in place: they say how the file is stored or handled,
 * and a file may be given them while it is still empty (btrfs takes NOCOW only then).
 * Not among them: immutable and append-only (a temporary file with them could be neither
 * written nor renamed; cp cannot write into such a DEST either), and the flags the kernel
 * manages itself, takes from the directory, or gives only directories (encrypted, extents,
 * inline data, verity, casefold, project inherit, dirsync...).
 */
export const KEPT_INODE_FLAGS =
  0x00000001 | // s  FS_SECRM_FL
  0x00000002 | // u  FS_UNRM_FL
  0x00000004 | // c  FS_COMPR_FL (btrfs: compress)
  0x00000008 | // S  FS_SYNC_FL
  0x00000040 | // d  FS_NODUMP_FL
  0x00000080 | // A  FS_NOATIME_FL
  0x00000400 | // m  FS_NOCOMP_FL (btrfs: never compress)
  0x00004000 | // j  FS_JOURNAL_DATA_FL (ext4)
  0x00008000 | // t  FS_NOTAIL_FL
  0x00800000 | // C  FS_NOCOW_FL (btrfs)
  0x02000000; //  x  FS_DAX_FL

/** Extended attribute the kernel drops when a file is written (cp's write drops it from DEST). */
const FILE_CAPABILITY = 'security.capability';

/** Prefix of the temporary file a whole-file copy writes before renaming it over DEST. */
export { TEMP_PREFIX } from './paths.js';

/** Where a whole-file copy writes: a temporary file beside DEST, or DEST itself (--inplace). */
export interface WholeFileTarget {
  fd: number;
  /** True when DEST is replaced by rename (the copy is atomic); false when written in place. */
  atomic: boolean;
  /** What to do once the bytes are in: rename the temporary file over DEST, or nothing. */
  commit(): void;
  /** What to do when the copy failed: remove the temporary file, or a DEST made for nothing. */
  abandon(anyBytesWritten: boolean): void;
}

/**
 * A temporary file beside DEST, or null where renaming one over DEST would change what cp
 * keeps: DEST has other hard links (cp's write shows under every name), DEST's directory
 * refuses new files though DEST itself may be writable, DEST's owner is one we cannot give
 * the new file (not root), or DEST's inode flags or extended attributes (with its ACL)
 * cannot all be read from it and given to the new file. Then the copy goes in place, as cp's.
 */
export function tempFileTarget(job: Job, existing: FileStat | null): WholeFileTarget | null {
  const { sys } = job;
  if (existing && existing.nlink > 1) return null;
  // Replace the file a symlink at DEST points to, not the link, as cp writes through it.
  const finalPath = existing ? sys.realpath(job.target) : job.target;
  const tempPath = tempPathBeside(finalPath);
  let fd: number;
  try {
    // Exclusive and not following symlinks: a planted link at this name is never used.
    // 0600 while in progress: a private SOURCE is never readable by others, even partly.
    fd = sys.open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (err) {
    if (existing && isErrno(err, 'EACCES', 'EPERM')) return null;
    throw fail(job, err);
  }
  job.options.onTempFile?.(tempPath);
  if (existing) {
    let keeps = true;
    try {
      // An existing DEST keeps its owner, as with cp: settle it before any byte is copied.
      try {
        sys.fchown(fd, existing.uid, existing.gid);
      } catch (err) {
        // Not root, but the new file may have DEST's owner and group already.
        if (!isErrno(err, 'EPERM')) throw err;
        const mine = sys.fstat(fd);
        keeps = mine.uid === existing.uid && mine.gid === existing.gid;
      }
      // Then its flags and xattrs (owner before xattrs, cp's order: a chown may drop some).
      keeps &&= carryAttributes(sys, finalPath, fd, existing.size);
    } catch (err) {
      closeQuietly(sys, fd);
      removeQuietly(sys, tempPath);
      throw fail(job, err);
    }
    if (!keeps) {
      closeQuietly(sys, fd);
      removeQuietly(sys, tempPath);
      return null;
    }
  }
  return {
    fd,
    atomic: true,
    commit() {
      if (job.options.fsync) syncing(job, () => sys.fsync(fd));
      if (job.options.noClobber) {
        // link(2) refuses an existing name, so a DEST that appeared meanwhile is kept.
        try {
          sys.link(tempPath, finalPath);
        } catch (err) {
          if (isErrno(err, 'EEXIST')) throw noClobberError(job);
          throw err;
        } finally {
          removeQuietly(sys, tempPath);
        }
      } else if (existing) {
        replaceWith(sys, tempPath, finalPath);
      } else {
        // Nothing to exchange with (and, where DEST appeared meanwhile, a rename replaces it).
        sys.rename(tempPath, finalPath);
      }
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

/**
 * Put the complete file at `tempPath` in the place of the file at `destPath`, atomically:
 * whoever opens DEST gets the old file or the new one, never neither and never part of one.
 *
 * The two names are exchanged (renameat2 RENAME_EXCHANGE) and the old file, now at the
 * temporary name, is unlinked. Not a plain rename: ext4 allocates and starts writing a
 * file's data before a rename over an existing file returns (auto_da_alloc, its guard for
 * programs that replace files without fsync), 0.07-2.2 s for 1 GiB measured on a
 * loop-mounted image, where an exchange takes under a millisecond and the data is written
 * back later (README, Benchmarks). The crash guarantee is then cp's: none without --fsync.
 *
 * A plain rename where the filesystem cannot exchange (EINVAL) or the kernel cannot
 * (ENOSYS), and where DEST is gone (ENOENT: the rename makes it anew). Where what was at
 * DEST cannot be unlinked (a directory put there meanwhile, which a rename would not have
 * replaced), the exchange is undone and the rename then decides, so the outcome and the
 * error are a rename's.
 */
export function replaceWith(sys: Sys, tempPath: SysPath, destPath: SysPath): void {
  try {
    sys.exchange(tempPath, destPath);
  } catch (err) {
    if (!isErrno(err, 'EINVAL', 'ENOSYS', 'EOPNOTSUPP', 'ENOENT')) throw err;
    sys.rename(tempPath, destPath);
    return;
  }
  try {
    sys.unlink(tempPath);
  } catch (err) {
    // Removed by someone else already: nothing left to do.
    if (isErrno(err, 'ENOENT')) return;
    try {
      sys.exchange(tempPath, destPath);
    } catch {
      // Cannot be undone: DEST is the new file; the old one stays at the temporary name,
      // which the error names.
      throw err;
    }
    sys.rename(tempPath, destPath);
  }
}

/**
 * Give the new, still empty file `tempFd` what cp would leave of the file at `destPath`
 * (which it replaces): DEST's inode flags among KEPT_INODE_FLAGS and its extended
 * attributes, ACL included, and none that DEST lacks (a flag or default ACL the new file
 * took from its directory). False when any of it cannot be read or given: the caller then
 * writes into DEST itself, which keeps everything, as cp does. Throws only when DEST cannot
 * be opened for a reason other than its permissions (then the copy fails).
 *
 * For the usual DEST, without flags or xattrs: an open, two FS_IOC_GETFLAGS and two
 * flistxattr calls, nothing set.
 */
function carryAttributes(sys: Sys, destPath: SysPath, tempFd: number, destSize: bigint): boolean {
  let destFd: number;
  try {
    // Read-only and non-blocking: the flags ioctl needs a descriptor, nothing more.
    destFd = sys.open(destPath, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
  } catch (err) {
    // Removed meanwhile: nothing of it to keep, and the rename makes it anew.
    if (isErrno(err, 'ENOENT')) return true;
    // Unreadable (not root): what it carries is unknown, so it is written into instead.
    if (isErrno(err, 'EACCES', 'EPERM')) return false;
    throw err;
  }
  try {
    // The descriptor is open anyway: the replaced file's cache can go now (see below).
    if (destSize >= RELEASE_CACHE_FROM) releaseCleanCache(sys, destFd);
    return carryFlags(sys, destFd, tempFd) && carryXattrs(sys, destFd, tempFd);
  } finally {
    closeQuietly(sys, destFd);
  }
}

/** DEST size from which its cache is worth two calls to release (below it, memory is no issue). */
const RELEASE_CACHE_FROM = 1024n * 1024n;

/**
 * Drop the page cache of the file about to be replaced, when all of it is clean.
 *
 * cp truncates DEST before writing, which frees DEST's cached pages first, and its copy
 * then reuses them. tscp's new file is a second inode: without this, DEST's old pages stay
 * cached until the old file is unlinked after the exchange, and the copy takes fresh pages
 * instead. On this machine kind (a VM whose balloon reclaims free guest memory) a fresh
 * page costs a host fault on first touch: 1 GiB onto a cached 1 GiB DEST on ext4 took
 * 1.4-1.6 s (1.0-1.2 s of it in the kernel's memcpy) against cp's 0.7 s, and 0.65-0.70 s
 * with DEST's cache dropped first. On bare metal the same pages would instead push other
 * files out of the cache, so it is the better order there too.
 *
 * Only clean pages: posix_fadvise(DONTNEED) starts writeback of dirty ones, and data about
 * to be unlinked is not worth a disk write (cp's truncate drops it unwritten). cachestat(2)
 * tells which (Linux 6.5); on older kernels nothing is dropped. Neither call changes a
 * byte of DEST, so a copy that fails still leaves DEST as it was.
 */
function releaseCleanCache(sys: Sys, destFd: number): void {
  try {
    const cache = sys.cacheState(destFd);
    if (cache.cached > 0 && cache.dirty === 0 && cache.writeback === 0) sys.dropCache(destFd);
  } catch (err) {
    // An optimisation only: ENOSYS (kernel before 6.5), EOPNOTSUPP (a filesystem without a
    // page cache of its own) and the like leave the cache as it is.
    if (!(err instanceof SysError)) throw err;
  }
}

/**
 * What `read` answers; `none` where the filesystem has no such thing (it answers one of
 * `unsupported`); null where the call failed otherwise (unknown: nothing may be assumed).
 */
function readOrNone<T>(read: () => T, none: T, ...unsupported: string[]): T | null {
  try {
    return read();
  } catch (err) {
    if (isErrno(err, ...unsupported)) return none;
    if (err instanceof SysError) return null;
    throw err;
  }
}

/** The flags of `fd`, 0 where the filesystem has none (tmpfs before 6.0, FUSE, NFS...). */
function inodeFlags(sys: Sys, fd: number): number | null {
  return readOrNone(() => sys.getInodeFlags(fd), 0, 'ENOTTY', 'EOPNOTSUPP', 'EINVAL', 'ENOSYS');
}

function carryFlags(sys: Sys, destFd: number, tempFd: number): boolean {
  const dest = inodeFlags(sys, destFd);
  const temp = inodeFlags(sys, tempFd);
  if (dest === null || temp === null) return false;
  const want = ((temp & ~KEPT_INODE_FLAGS) | (dest & KEPT_INODE_FLAGS)) >>> 0;
  if (want === temp) return true;
  try {
    sys.setInodeFlags(tempFd, want);
  } catch (err) {
    if (err instanceof SysError) return false;
    throw err;
  }
  // Some filesystems ignore a flag rather than refuse it: only what is there counts.
  const got = inodeFlags(sys, tempFd);
  return got !== null && (got & KEPT_INODE_FLAGS) === (want & KEPT_INODE_FLAGS);
}

/** The names of a file's xattrs; [] where the filesystem has none; null if unreadable. */
function xattrNames(sys: Sys, fd: number): string[] | null {
  return readOrNone(() => sys.listXattrs(fd), [], 'EOPNOTSUPP');
}

function carryXattrs(sys: Sys, destFd: number, tempFd: number): boolean {
  const destNames = xattrNames(sys, destFd);
  const tempNames = xattrNames(sys, tempFd);
  if (destNames === null || tempNames === null) return false;
  if (destNames.length === 0 && tempNames.length === 0) return true;
  try {
    for (const name of tempNames) {
      if (!destNames.includes(name)) sys.removeXattr(tempFd, name);
    }
    for (const name of destNames) {
      // File capabilities belong to the bytes they were granted for: the kernel drops them
      // when a file is written, so cp's DEST loses them too.
      if (name === FILE_CAPABILITY) continue;
      let value: Buffer;
      try {
        value = sys.getXattr(destFd, name);
      } catch (err) {
        // Removed since it was listed: DEST no longer has it.
        if (isErrno(err, 'ENODATA')) continue;
        throw err;
      }
      // A security label the new file was given already is often one it may not set again.
      if (tempNames.includes(name) && sys.getXattr(tempFd, name).equals(value)) continue;
      sys.setXattr(tempFd, name, value);
    }
  } catch (err) {
    if (err instanceof SysError) return false;
    throw err;
  }
  return true;
}

/**
 * A new DEST written as an unnamed file (O_TMPFILE) in its directory and linked to DEST's
 * name when complete: nothing is visible before, and nothing is left after a crash or
 * SIGKILL. Null where the filesystem has no O_TMPFILE (then a named temporary file).
 */
export function unnamedTarget(job: Job): WholeFileTarget | null {
  const { sys } = job;
  const dir = dirName(job.target);
  let fd: number;
  try {
    fd = sys.open(dir, O_TMPFILE | O_WRONLY, 0o600);
  } catch (err) {
    // EOPNOTSUPP (or EISDIR on kernels without O_TMPFILE): this filesystem cannot.
    if (isErrno(err, 'EOPNOTSUPP', 'EISDIR', 'EINVAL')) return null;
    throw fail(job, err);
  }
  return {
    fd,
    atomic: true,
    commit() {
      if (job.options.fsync) syncing(job, () => sys.fsync(fd));
      try {
        sys.linkFd(fd, job.target);
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
        if (job.options.noClobber) throw noClobberError(job);
        // DEST appeared while we copied: replace it as a rename would, via a named link.
        const temp = tempPathBeside(job.target);
        job.options.onTempFile?.(temp);
        sys.linkFd(fd, temp);
        try {
          replaceWith(sys, temp, job.target);
        } catch (renameErr) {
          removeQuietly(sys, temp);
          throw renameErr;
        }
      }
      if (job.options.fsync) fsyncDirectory(sys, dir);
    },
    abandon() {
      // Never named: closing the descriptor frees it.
    },
  };
}

/** DEST exists and noClobber says leave it (cp -n). */
export function noClobberError(job: Job): CopyError {
  return new CopyError({ kind: 'exists', verb: 'copy', source: job.source, dest: job.target, code: 'EEXIST', reason: 'not replacing an existing file' });
}

/** --inplace: write straight into DEST (truncated, as cp does), keeping its inode and hard links. */
export function inPlaceTarget(job: Job, src: FileStat, existing: FileStat | null): WholeFileTarget {
  // Not O_TRUNC: with --reflink=always a refused clone must leave DEST untouched. After a
  // FICLONE DEST is cut to SOURCE's size; the other paths truncate first (see copyWhole).
  const { fd, created } = openDestInPlace(job, src, existing);
  return {
    fd,
    atomic: false,
    commit() {
      if (job.options.fsync) syncing(job, () => job.sys.fsync(fd));
    },
    abandon(anyBytesWritten) {
      if (created && !anyBytesWritten) removeQuietly(job.sys, job.target);
    },
  };
}

/** Open DEST for writing in place, creating it if missing. */
export function openDestInPlace(job: Job, src: FileStat, existing: FileStat | null, extraFlags = 0): { fd: number; created: boolean } {
  try {
    if (existing) return { fd: job.sys.open(job.target, O_WRONLY | extraFlags), created: false };
    // The kernel applies the umask to a created file's mode.
    return { fd: job.sys.open(job.target, O_WRONLY | O_CREAT | O_EXCL, src.mode & 0o777), created: true };
  } catch (err) {
    throw fail(job, err);
  }
}

