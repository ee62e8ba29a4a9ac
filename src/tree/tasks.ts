/**
 * The work of a tree copy cut into tasks that a worker runs one after another: list a
 * directory (making its copy first), copy a file through the single-file engine, recreate
 * a symlink, device or FIFO, make a hard link, and finish a directory's metadata once its
 * contents are in. Tasks and their results are plain data, so they cross to worker threads.
 */
import { copy } from '../copy/copy.js';
import { CopyError } from '../copy/errors.js';
import { joinPath, pathText, quotePath, tempPathBeside, type FilePath } from '../copy/paths.js';
import type { CopyMode, Method } from '../copy/types.js';
import { SysError, isErrno, type DirReader, type Sys } from '../sys/index.js';
import { revivePath } from '../copy/cross-thread.js';
import { entryStat, nameOf, type EntryStat } from './entry-stat.js';
import { applyMetadata, type MetadataContext, type PreserveError } from './metadata.js';
import type { Dereference, EntryResult, Preserve, TreeError, Update } from './types.js';

/** Options every task of one run shares; sent to each worker once. */
export interface RunSettings {
  mode: CopyMode;
  preserve: Preserve;
  require: Preserve;
  dereference: Dereference;
  noClobber: boolean;
  update: Update;
  inplace: boolean;
  fsync: boolean;
  umask: number;
  measureSharing: boolean;
  oneFileSystem: boolean;
  /** Whether the caller wants each path's EntryResult (-v, a reporter.entry); else counts only. */
  reportEntries: boolean;
}

/** Who this process creates files as. */
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

/** Names listed per task: a huge directory is read in slices, never whole. */
export const LIST_SLICE = 2048;

type PathData = string | Uint8Array;
/** A file, symlink or special file to recreate. */
type EntryTask = {
  t: 'file' | 'symlink' | 'special';
  src: PathData;
  dest: PathData;
  st: EntryStat;
  destAbsent: boolean;
  /** DEST's directory, when this run made it: its device and the group new files get there. */
  fresh?: FreshDirectory;
};

/** A directory this run made: what a new file in it is known to get without asking. */
export interface FreshDirectory {
  dev: number;
  /** The group of a file created there (the directory's own when it is setgid, else ours). */
  gid: number;
}

export type Task =
  /** Make DEST's directory (unless it exists) and list SOURCE's, a slice at a time. */
  | {
      t: 'dir';
      id: number;
      src: PathData;
      dest: PathData;
      st: EntryStat;
      make: boolean;
      /** The device of the operand this directory came from (for -x). */
      rootDev: number;
      /** Under -x, a directory on another filesystem: made, but not entered. */
      stay: boolean;
      resume: boolean;
    }
  | EntryTask
  /** A hard link to a file already copied. */
  | { t: 'link'; src: PathData; dest: PathData; to: PathData; st: EntryStat; destAbsent: boolean }
  /** A directory's contents are all in: its times, owner, xattrs and mode. */
  | { t: 'dirDone'; src: PathData; dest: PathData; st: EntryStat; created: boolean };

export interface ListedEntry {
  name: PathData;
  st: EntryStat;
  /** A directory on another filesystem under -x: made, not entered. */
  stay?: boolean;
}

export interface TaskOutcome {
  /** Set for a finished entry (also for one whose metadata failed: it exists). */
  entry?: EntryResult;
  errors: TreeError[];
  /** dir tasks: whether the directory was made now (so its entries cannot exist yet). */
  created?: boolean;
  /** dir tasks that made the directory: what its new files get. */
  fresh?: FreshDirectory;
  /** dir tasks: SOURCE's directory could not be read (its copy is made, but empty). */
  unreadable?: boolean;
  listed?: ListedEntry[];
  /** dir tasks: more names to read (send the same task again with resume). */
  more?: boolean;
  /** --dedupe found different bytes. */
  differs?: boolean;
}

export interface TaskContext {
  sys: Sys;
  settings: RunSettings;
  signal: AbortSignal;
  /** A worker's open directory listings, by task id. */
  listings: Map<number, DirReader>;
  /** Methods each pair of filesystems refused for good, learnt from earlier files. */
  refusals: Map<string, Map<Method, string>>;
  /** The regular file being copied (progress) and the method it uses. */
  onBytes?(bytes: number): void;
  onMethod?(method: Method): void;
}

export async function runTask(ctx: TaskContext, task: Task): Promise<TaskOutcome> {
  const src = revivePath(task.src);
  const dest = revivePath(task.dest);
  try {
    switch (task.t) {
      case 'dir':
        return listDirectory(ctx, task, src, dest);
      case 'file':
        return await copyFile(ctx, task, src, dest);
      case 'symlink':
        return makeSymlink(ctx, task, src, dest);
      case 'special':
        return makeSpecial(ctx, task, src, dest);
      case 'link':
        return makeHardLink(ctx, task, src, dest, revivePath(task.to));
      case 'dirDone':
        return finishDirectory(ctx, task, src, dest);
    }
  } catch (err) {
    if (err instanceof CopyError && err.kind === 'interrupted') throw err;
    return { errors: [treeError(err, src, dest, task.t)] };
  }
}

function metadataContext(ctx: TaskContext): MetadataContext {
  return { sys: ctx.sys, preserve: ctx.settings.preserve, require: ctx.settings.require, umask: ctx.settings.umask };
}

/** One line per failing path, naming it and its errno, as cp words it. */
export function treeError(err: unknown, src: FilePath, dest: FilePath, what: Task['t']): TreeError {
  if (err instanceof CopyError) {
    return { path: err.kind === 'system' && isDestCall(err.cause) ? pathText(dest) : pathText(src), code: err.code ?? null, message: err.message };
  }
  if (err instanceof SysError) {
    const verb = VERBS[what];
    const onDest = isDestCall(err);
    const target = onDest ? dest : src;
    return {
      path: pathText(target),
      code: err.code,
      message: `cannot ${verb} ${quotePath(onDest ? dest : src)}: ${err.message.replace(/^.*?: /, '')}`,
    };
  }
  throw err;
}

const VERBS: Record<Task['t'], string> = {
  dir: 'copy directory',
  file: 'copy',
  symlink: 'create symbolic link',
  special: 'create special file',
  link: 'create hard link',
  dirDone: 'set attributes of',
};

/** Whether a failed call was about DEST (making or changing it) rather than reading SOURCE. */
function isDestCall(err: unknown): boolean {
  if (!(err instanceof SysError)) return false;
  return !['open', 'stat', 'lstat', 'readlink', 'opendir', 'readdir', 'llistxattr', 'lgetxattr', 'fstat'].includes(err.syscall);
}

function preserveErrors(problems: PreserveError[], dest: FilePath): TreeError[] {
  return problems.map((p) => ({
    path: pathText(dest),
    code: p.cause.code,
    message: `${p.message} for ${quotePath(dest)}: ${p.cause.message.replace(/^.*?: /, '')}`,
  }));
}

// ---------------------------------------------------------------------------------------

function listDirectory(ctx: TaskContext, task: Extract<Task, { t: 'dir' }>, src: FilePath, dest: FilePath): TaskOutcome {
  const { sys, settings } = ctx;
  let created = false;
  const errors: TreeError[] = [];
  if (!task.resume && task.make) {
    try {
      // Owner-only while it fills: nobody sees a half-copied directory, and a 0555 one
      // can still be filled. Its own mode comes when its contents are in (dirDone).
      sys.mkdir(dest, 0o700);
      created = true;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const there = sys.stat(dest, false);
      if (!there.isDirectory) {
        return {
          errors: [
            {
              path: pathText(dest),
              code: 'EEXIST',
              message: `cannot overwrite non-directory ${quotePath(dest)} with directory ${quotePath(src)}`,
            },
          ],
        };
      }
    }
  }
  let fresh: FreshDirectory | undefined;
  if (created) {
    // One stat per directory tells every file copied into it its device and group.
    const made = sys.stat(dest, false);
    fresh = { dev: made.dev, gid: made.mode & 0o2000 ? made.gid : EGID };
  }
  if (task.stay) return { errors, listed: [], more: false, created, fresh };
  let reader = ctx.listings.get(task.id);
  if (!reader) {
    try {
      reader = sys.opendir(src);
    } catch (err) {
      // An unreadable SOURCE directory: its copy (made above) is still finished with
      // SOURCE's metadata, as cp leaves it.
      errors.push(treeError(err, src, dest, 'dir'));
      return { errors, listed: [], more: false, created, fresh, unreadable: true };
    }
    ctx.listings.set(task.id, reader);
  }
  const listed: ListedEntry[] = [];
  let names: Buffer[];
  try {
    names = reader.read(LIST_SLICE);
  } catch (err) {
    ctx.listings.delete(task.id);
    reader.close();
    throw err;
  }
  const follow = settings.dereference === 'always';
  for (const bytes of names) {
    const name = nameOf(bytes);
    const path = joinPath(src, name);
    try {
      const st = entryStat(sys.stat(path, follow));
      const entry: ListedEntry = { name: typeof name === 'string' ? name : bytes, st };
      if (st.kind === 'directory' && settings.oneFileSystem && st.dev !== task.rootDev) entry.stay = true;
      listed.push(entry);
    } catch (err) {
      errors.push(treeError(err, path, joinPath(dest, name), 'file'));
    }
  }
  const more = names.length === LIST_SLICE;
  if (!more) {
    ctx.listings.delete(task.id);
    reader.close();
  }
  return { errors, listed, more, created, fresh };
}

/** --update and an existing DEST: whether to leave it, and why. */
function keepExisting(ctx: TaskContext, st: EntryStat, dest: FilePath, destAbsent: boolean): string | null {
  const { update } = ctx.settings;
  if (destAbsent || update === 'all') return null;
  let there;
  try {
    there = ctx.sys.stat(dest, false);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  if (update === 'none') return 'exists';
  return there.mtimeNs >= st.mtimeNs ? 'not newer' : null;
}

function skipped(task: { st: EntryStat }, src: FilePath, dest: FilePath, reason: string): TaskOutcome {
  return { errors: [], entry: { source: pathText(src), dest: pathText(dest), kind: task.st.kind, action: 'skipped', reason } };
}

async function copyFile(ctx: TaskContext, task: EntryTask, src: FilePath, dest: FilePath): Promise<TaskOutcome> {
  const { settings } = ctx;
  const keep = settings.mode === 'dedupe' ? null : keepExisting(ctx, task.st, dest, task.destAbsent);
  if (keep) return skipped(task, src, dest, keep);
  let problems: PreserveError[] = [];
  let done = 0;
  try {
    const result = await copy(src, dest, {
      mode: settings.mode,
      noTargetDirectory: true,
      destAbsent: task.destAbsent && settings.mode !== 'dedupe',
      unnamedTemp: true,
      noClobber: settings.noClobber,
      inplace: settings.inplace,
      fsync: settings.fsync,
      umask: settings.umask,
      measureSharing: settings.measureSharing,
      signal: ctx.signal,
      sys: ctx.sys,
      refusalMemory: ctx.refusals,
      destDevice: task.fresh?.dev,
      finish: (fd, created, srcFd) => {
        // A file new in a directory we made already has our owner and the directory's group.
        const ownerAlready = created && task.fresh !== undefined && task.st.uid === EUID && task.st.gid === task.fresh.gid;
        const applied = applyMetadata(metadataContext(ctx), srcFd, fd, task.st, created, ownerAlready);
        problems = applied.problems;
        return applied.modeSet;
      },
      reporter: {
        progress: (n) => {
          ctx.onBytes?.(n - done);
          done = n;
        },
        method: (m) => ctx.onMethod?.(m),
      },
    });
    return {
      errors: preserveErrors(problems, dest),
      entry: {
        source: result.source,
        dest: result.dest,
        kind: 'file',
        action: 'copied',
        bytes: result.bytes,
        totalBytes: result.totalBytes,
        fallbacks: result.fallbacks,
        sharedBytes: result.sharedBytes,
        durationMs: result.durationMs,
      },
    };
  } catch (err) {
    // Bytes counted for progress that did not end up in DEST are taken back.
    ctx.onBytes?.(-done);
    if (err instanceof CopyError && err.kind === 'exists') return skipped(task, src, dest, 'exists');
    if (err instanceof CopyError && err.kind === 'differs') return { errors: [treeError(err, src, dest, 'file')], differs: true };
    throw err;
  }
}

/**
 * Put a new entry at DEST: straight there when DEST cannot exist yet, else under a
 * temporary name renamed over DEST (atomic), unless -n or --update=none says keep DEST.
 */
function place(ctx: TaskContext, dest: FilePath, destAbsent: boolean, make: (at: FilePath) => void): 'made' | 'exists' {
  const { sys, settings } = ctx;
  if (destAbsent) {
    make(dest);
    return 'made';
  }
  try {
    make(dest);
    return 'made';
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    if (settings.noClobber || settings.update === 'none') return 'exists';
    const there = sys.stat(dest, false);
    if (there.isDirectory) throw err;
  }
  const temp = tempPathBeside(dest);
  make(temp);
  try {
    sys.rename(temp, dest);
  } catch (err) {
    try {
      sys.unlink(temp);
    } catch {
      // Gone already.
    }
    throw err;
  }
  return 'made';
}

function makeSymlink(ctx: TaskContext, task: EntryTask, src: FilePath, dest: FilePath): TaskOutcome {
  const { sys } = ctx;
  const keep = keepExisting(ctx, task.st, dest, task.destAbsent);
  if (keep) return skipped(task, src, dest, keep);
  const target = sys.readlink(src);
  if (place(ctx, dest, task.destAbsent, (at) => sys.symlink(target, at)) === 'exists') return skipped(task, src, dest, 'exists');
  const { problems } = applyMetadata(metadataContext(ctx), src, dest, task.st, true);
  return { errors: preserveErrors(problems, dest), entry: { source: pathText(src), dest: pathText(dest), kind: 'symlink', action: 'created' } };
}

function makeSpecial(ctx: TaskContext, task: EntryTask, src: FilePath, dest: FilePath): TaskOutcome {
  const { sys } = ctx;
  if (task.st.kind === 'socket') return skipped(task, src, dest, 'socket');
  const keep = keepExisting(ctx, task.st, dest, task.destAbsent);
  if (keep) return skipped(task, src, dest, keep);
  // Type bits and permissions (the kernel applies the umask); setuid bits come with the mode.
  const mode = (task.st.mode & 0o170000) | (task.st.mode & 0o777);
  if (place(ctx, dest, task.destAbsent, (at) => sys.mknod(at, mode, task.st.rdev)) === 'exists') return skipped(task, src, dest, 'exists');
  const { problems } = applyMetadata(metadataContext(ctx), src, dest, task.st, true);
  return { errors: preserveErrors(problems, dest), entry: { source: pathText(src), dest: pathText(dest), kind: task.st.kind, action: 'created' } };
}

function makeHardLink(ctx: TaskContext, task: Extract<Task, { t: 'link' }>, src: FilePath, dest: FilePath, to: FilePath): TaskOutcome {
  const { sys } = ctx;
  const keep = keepExisting(ctx, task.st, dest, task.destAbsent);
  if (keep) return skipped(task, src, dest, keep);
  if (place(ctx, dest, task.destAbsent, (at) => sys.link(to, at)) === 'exists') return skipped(task, src, dest, 'exists');
  return { errors: [], entry: { source: pathText(src), dest: pathText(dest), kind: task.st.kind, action: 'linked' } };
}

function finishDirectory(ctx: TaskContext, task: Extract<Task, { t: 'dirDone' }>, src: FilePath, dest: FilePath): TaskOutcome {
  const { problems } = applyMetadata(metadataContext(ctx), src, dest, task.st, task.created);
  return {
    errors: preserveErrors(problems, dest),
    entry: { source: pathText(src), dest: pathText(dest), kind: 'directory', action: task.created ? 'created' : 'copied' },
  };
}

