/**
 * Carrying SOURCE's metadata to a new entry, in GNU cp's order: times, then owner (before
 * xattrs, because chown clears file capabilities), then xattrs and the ACL, then the mode
 * last (a chmod after the ACL keeps the two consistent, and setuid bits survive chown).
 */
import { isErrno, SysError, type FileRef, type Sys } from '../sys/index.js';
import type { Preserve } from './types.js';
import type { EntryStat } from './entry-stat.js';

/** The ACL travels with the mode (as in cp): these xattr names are the ACL's. */
const ACL_ACCESS = 'system.posix_acl_access';
const ACL_DEFAULT = 'system.posix_acl_default';

export interface MetadataContext {
  sys: Sys;
  preserve: Preserve;
  /** What the user asked for by name (--preserve=LIST): failing to keep it is an error. */
  require: Preserve;
  umask: number;
}

/** A metadata step that failed and was asked for: reported, but the entry stays. */
export class PreserveError extends Error {
  constructor(
    readonly what: string,
    override readonly cause: SysError,
  ) {
    super(`preserving ${what}`);
  }
}

/**
 * Apply what `ctx.preserve` asks of `st` to the new entry `dest` (an open descriptor, or a
 * path that is never followed). `source` (an open descriptor, or a path never followed) is
 * read for its xattrs. `created` is false for an
 * entry that existed before (its mode is then kept unless the mode is preserved);
 * `ownerAlready` says it was made with SOURCE's owner and group already (no chown needed).
 * Returns the failures that were asked for (the others are ignored as cp -a ignores them)
 * and whether the mode was set.
 */
export function applyMetadata(
  ctx: MetadataContext,
  source: FileRef,
  dest: FileRef,
  st: EntryStat,
  created: boolean,
  ownerAlready = false,
): { problems: PreserveError[]; modeSet: boolean } {
  const { sys, preserve, require } = ctx;
  const problems: PreserveError[] = [];
  const attempt = (what: keyof Preserve, fn: () => void): boolean => {
    try {
      fn();
      return true;
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      if (require[what]) problems.push(new PreserveError(describe[what], err));
      return false;
    }
  };
  const isLink = st.kind === 'symlink';

  if (preserve.timestamps) attempt('timestamps', () => sys.setTimes(dest, st.atimeNs, st.mtimeNs));

  let ownerKept = true;
  if (preserve.ownership && !ownerAlready) {
    ownerKept = attempt('ownership', () => {
      try {
        chown(sys, dest, st.uid, st.gid);
      } catch (err) {
        // Not root: keep at least the group where we belong to it (as cp does).
        if (!isErrno(err, 'EPERM', 'EINVAL')) throw err;
        try {
          chown(sys, dest, -1, st.gid);
        } catch {
          // Neither: reported below with the first error.
        }
        throw err;
      }
    });
  }

  if ((preserve.xattr || preserve.mode) && !isLink) {
    let names: string[] = [];
    let listed = false;
    try {
      names = sys.listXattrs(source);
      listed = true;
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      // A source filesystem without xattrs has none to copy.
      if (isErrno(err, 'EOPNOTSUPP', 'ENOTSUP')) listed = true;
      else problems.push(new PreserveError('extended attributes', err));
    }
    // A file that replaced an existing one carries that file's ACL (as cp's DEST keeps it):
    // a preserved mode means SOURCE's ACL instead, or none when SOURCE has none, as cp -p.
    if (preserve.mode && !created && st.kind === 'file' && listed && !names.includes(ACL_ACCESS)) {
      attempt('mode', () => {
        try {
          sys.removeXattr(dest, ACL_ACCESS);
        } catch (err) {
          if (!isErrno(err, 'ENODATA', 'EOPNOTSUPP')) throw err;
        }
      });
    }
    for (const name of names) {
      const isAcl = name === ACL_ACCESS || name === ACL_DEFAULT;
      if (isAcl ? !preserve.mode : !preserve.xattr) continue;
      const what: keyof Preserve = isAcl ? 'mode' : 'xattr';
      attempt(what, () => {
        try {
          sys.setXattr(dest, name, sys.getXattr(source, name));
        } catch (err) {
          // An ACL the destination cannot hold still leaves the mode, set below.
          if (isAcl && isErrno(err, 'EOPNOTSUPP')) return;
          throw err;
        }
      });
    }
  }

  if (!isLink) {
    let mode: number | null = null;
    if (preserve.mode) {
      // setuid/setgid are for the original owner: without it they would grant someone else's rights.
      mode = st.mode & (ownerKept ? 0o7777 : 0o1777);
    } else if (created && st.kind === 'directory') {
      // Made writable for the copy; now what cp -r gives a new directory: mkdir(2)'s
      // mode, which keeps the sticky bit (setgid comes from the parent, not from SOURCE).
      mode = st.mode & 0o1777 & ~ctx.umask;
    }
    if (mode !== null) {
      const m = mode;
      attempt('mode', () => (typeof dest === 'number' ? sys.fchmod(dest, m) : sys.chmod(dest, m)));
      return { problems, modeSet: true };
    }
  }
  return { problems, modeSet: false };
}

const describe: Record<keyof Preserve, string> = {
  mode: 'permissions',
  ownership: 'ownership',
  timestamps: 'times',
  links: 'hard links',
  xattr: 'extended attributes',
};

function chown(sys: Sys, dest: FileRef, uid: number, gid: number): void {
  if (typeof dest === 'number') sys.fchown(dest, uid, gid);
  else sys.lchown(dest, uid, gid);
}
