/**
 * The quick way for the commonest command line, `tscp SOURCE DEST` of a plain file to a new
 * name: Node's own copyFile (libuv: FICLONE, else copy_file_range, else sendfile: the
 * engine's chain for a file without holes), so the process never loads commander, koffi or
 * the engine. That fixed cost was most of a small or reflinked copy's time (README,
 * Performance).
 *
 * Only where the result is the engine's, byte for byte and bit for bit; everything else is
 * declined before any file is made, and the engine does it:
 * - SOURCE a regular file that cannot hold holes (allocated blocks cover its size), without
 *   set-user-ID, set-group-ID or sticky bits, whose permission bits the umask leaves whole;
 * - DEST missing (or a directory without SOURCE's name in it): replacing a file is the
 *   engine's (it keeps DEST's flags, xattrs, owner and hard links, as cp does);
 * - both on a local disk or memory filesystem (local-files.ts): /proc and /sys files report
 *   size 0 and must be read; FUSE and network filesystems get the engine's chunked calls;
 * - a file larger than QUICK_COPY_BYTES only by reflink (FICLONE_FORCE), unless no progress
 *   bar is to be drawn;
 * - no -v, --json or other option that changes what is done or said (see plainOperands).
 *
 * Look-ups run on libuv's thread pool (a hung mount cannot block this thread). The copy of a
 * small file then runs here, bounded like one of the engine's calls; a larger one runs on
 * the pool while this thread waits for it or for a signal.
 */
import { chmodSync, constants, copyFileSync, renameSync } from 'node:fs';
import { LOCAL_FILESYSTEMS, NETWORK_AND_FUSE_FILESYSTEMS, onPool, survey } from './local-files.js';
import { baseName, joinPath, tempPathBeside } from '../copy/paths.js';
import { REMOVE_WITHIN_MS, withinMs } from '../copy/cross-thread.js';

/**
 * Largest file copied here on the main thread, whatever the filesystems and the terminal:
 * the engine's own bound on one synchronous call (KERNEL_CHUNK_BYTES), tens of ms at most.
 */
export const QUICK_COPY_BYTES = 16 * 1024 * 1024;

/**
 * Options that change nothing in how a plain copy is made or reported when it succeeds,
 * beyond whether a progress bar may be drawn (which quickCopy asks through progressWanted).
 */
const HARMLESS_OPTIONS = new Set(['-q', '--quiet', '--progress', '--no-progress', '--reflink=auto']);

const SPECIAL_MODE_BITS = 0o7000;

/**
 * Where copyFile does what the engine does: local filesystems, and those whose files are
 * plain files with data behind a daemon or a server (FUSE, NFS, SMB), not /proc, /sys and
 * their kind, whose files report size 0 and are made as they are read.
 */
const QUICK_FILESYSTEMS = new Set([...LOCAL_FILESYSTEMS, ...NETWORK_AND_FUSE_FILESYSTEMS]);

/**
 * SOURCE and DEST when the command line is two operands and at most options from
 * HARMLESS_OPTIONS; null for anything else (commander then reads it). An operand that
 * starts with '-' or holds U+FFFD (bytes that are not UTF-8: main.ts recovers them) is left
 * to the full parser. `progress` is what the options say of the bar, as commander reads
 * them: the last of --progress and --no-progress, and off with -q; undefined when none
 * says (then a bar where stderr is a terminal).
 */
export function plainOperands(args: string[]): { source: string; dest: string; progress?: boolean } | null {
  const operands: string[] = [];
  let quiet = false;
  let progress: boolean | undefined;
  for (const arg of args) {
    if (arg.startsWith('-') && arg !== '-') {
      if (!HARMLESS_OPTIONS.has(arg)) return null;
      if (arg === '-q' || arg === '--quiet') quiet = true;
      else if (arg === '--progress') progress = true;
      else if (arg === '--no-progress') progress = false;
    } else if (arg.includes('\uFFFD') || arg === '-') {
      return null;
    } else {
      operands.push(arg);
    }
  }
  if (operands.length !== 2) return null;
  return { source: operands[0]!, dest: operands[1]!, progress: quiet ? false : progress };
}

export type QuickCopyOutcome =
  /** Not a case for the quick way: nothing was made; the engine does the copy. */
  | { kind: 'declined' }
  | { kind: 'copied'; dest: string }
  /**
   * A signal came: the temporary file is removed and DEST was never made. `settled` is false
   * when the thread pool's copy was still running after the grace: the caller must die by
   * the signal (Node waits for the pool at exit).
   */
  | { kind: 'interrupted'; dest: string; bytesWritten: number; settled: boolean };

export interface QuickCopyOptions {
  /** Applied to SOURCE's permission bits for the new DEST, as the engine does. */
  umask: number;
  /**
   * Whether a progress bar would be drawn (then only copies that finish at once are done
   * here); asked only for a large file: finding whether stderr is a terminal costs ms.
   */
  progressWanted(): boolean;
  signal: AbortSignal;
  /** After a signal, how long the copy may take to return before it is given up on. */
  graceMs: number;
}

export async function quickCopy(source: string, dest: string, options: QuickCopyOptions): Promise<QuickCopyOutcome> {
  const declined = { kind: 'declined' } as const;
  const found = await survey(source, dest);
  if (found === null || options.signal.aborted) return declined;
  const src = found.source;
  if (!src.isFile() || (src.mode & SPECIAL_MODE_BITS) !== 0 || !QUICK_FILESYSTEMS.has(found.sourceFsType)) return declined;
  // Fewer blocks than bytes: there may be holes, which only SEEK_DATA keeps.
  if (src.blocks * 512 < src.size) return declined;
  // libuv makes its file with SOURCE's permission bits and writes it so: only where they are
  // DEST's bits too (the umask takes nothing away) is the file being written no more
  // readable than DEST will be. Otherwise the engine, whose temporary file is 0600.
  const mode = src.mode & 0o777;
  if ((mode & options.umask) !== 0) return declined;
  let target: string;
  let targetFsType: number | null;
  if (found.dest === null) {
    // A missing DEST named with a trailing slash is the engine's ENOTDIR.
    if (dest.endsWith('/')) return declined;
    target = dest;
    targetFsType = found.parentFsType;
  } else {
    // An existing DEST is replaced by the engine (which keeps its flags, xattrs, owner, links).
    if (!found.dest.isDirectory()) return declined;
    target = joinPath(dest, baseName(source)) as string;
    targetFsType = found.destFsType;
  }
  if (targetFsType === null || !QUICK_FILESYSTEMS.has(targetFsType)) return declined;
  // On a local disk or memory filesystem every call returns: small copies are made on this
  // thread, without more round trips to the pool. Elsewhere (FUSE, NFS, SMB) every call
  // goes to the pool, and a file that says it is empty is left to the engine, which reads
  // it (such filesystems may not know a file's size before it is read).
  const local = LOCAL_FILESYSTEMS.has(found.sourceFsType) && LOCAL_FILESYSTEMS.has(targetFsType);
  if (!local && src.size === 0) return declined;
  if (found.dest !== null && (await existsWithoutFollowing(target))) return declined;
  const temp = tempPathBeside(target) as string;
  if (local && src.size <= QUICK_COPY_BYTES) {
    // Bounded as one engine call is: made here.
    try {
      copyFileSync(source, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    } catch {
      // Nothing to remove: libuv removes a file it made when its copy fails, and a name
      // that existed (EEXIST: O_EXCL never follows a link planted there) is not ours.
      return declined;
    }
  } else {
    // On the pool, and only where nobody waits for a progress bar: otherwise a reflink or
    // nothing. (Across filesystems libuv's chain is the engine's: copy_file_range refused
    // with EXDEV, then sendfile, which measured as fast as read/write: bench/crossfs.js.)
    const anyMethod = src.size <= QUICK_COPY_BYTES || !options.progressWanted();
    const flags = constants.COPYFILE_EXCL | (anyMethod ? constants.COPYFILE_FICLONE : constants.COPYFILE_FICLONE_FORCE);
    const copying = onPool.copyFile(source, temp, flags).then(
      () => true,
      () => false,
    );
    const aborted = new Promise<'aborted'>((resolve) => options.signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
    const first = await Promise.race([copying, aborted]);
    if (first === 'aborted') return interrupted(copying, temp, target, options.graceMs);
    if (!first) return declined;
  }
  try {
    if (local) {
      chmodSync(temp, mode);
      renameSync(temp, target);
    } else {
      await onPool.chmod(temp, mode);
      await onPool.rename(temp, target);
    }
  } catch {
    await onPool.rm(temp);
    return declined;
  }
  return { kind: 'copied', dest: target };
}

async function existsWithoutFollowing(path: string): Promise<boolean> {
  return onPool.lstat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT',
  );
}

async function interrupted(copying: Promise<boolean>, temp: string, dest: string, graceMs: number): Promise<QuickCopyOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([copying.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
  clearTimeout(timer);
  // On the pool, each waited for a moment only: the copy there may still hold the filesystem.
  const bytesWritten = await withinMs(
    onPool.stat(temp).then(
      (st) => st.size,
      () => 0,
    ),
    REMOVE_WITHIN_MS,
    0,
  );
  await withinMs(onPool.rm(temp), REMOVE_WITHIN_MS, undefined);
  return { kind: 'interrupted', dest, bytesWritten, settled };
}
