/**
 * Where a whole-file copy writes: an unnamed (O_TMPFILE) or named temporary file beside
 * DEST that becomes DEST only once complete, or DEST itself (--inplace and the cases where
 * a new inode would lose what cp keeps).
 */
import { constants as fsConstants } from 'node:fs';
import { O_TMPFILE, isErrno, type FileStat } from '../sys/index.js';
import { CopyError } from './errors.js';
import { closeQuietly, fail, fsyncDirectory, removeQuietly, syncing, type Job } from './job.js';
import { baseName, decorateName, dirName, joinPath } from './paths.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fsConstants;

/** Prefix of the temporary file a whole-file copy writes before renaming it over DEST. */
export const TEMP_PREFIX = '.tscp-';

/**
 * Random hex for the temporary file's name. Web Crypto's getRandomValues is already in the
 * process; importing node:crypto would add ~7 ms to every start (bench/README.md).
 */
export function randomHex(bytes: number): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}

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
 * keeps: DEST's directory refuses new files though DEST itself may be writable, or DEST's
 * owner is one we cannot give the new file (not root). Then the copy goes in place, as cp's.
 */
export function tempFileTarget(job: Job, existing: FileStat | null): WholeFileTarget | null {
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
      } else {
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
        const temp = joinPath(dir, decorateName(`${TEMP_PREFIX}${randomHex(6)}-`, baseName(job.target), 200));
        sys.linkFd(fd, temp);
        try {
          sys.rename(temp, job.target);
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

