/**
 * Public types of the tree copy: what a caller asks for (cp's options), what it hears while
 * the copy runs, and what it gets back.
 */
import type { FilePath } from '../copy/paths.js';
import type { ByteCount, BytesByMethod, CopyMode, Fallback, Method } from '../copy/types.js';
import type { Sys } from '../sys/index.js';

/** What of SOURCE's metadata a copy carries over, as cp's --preserve list names it. */
export interface Preserve {
  /** Permission bits, setuid/setgid/sticky and the POSIX ACL (as in cp, mode carries the ACL). */
  mode: boolean;
  /** Owner and group (as root; others keep their group where they belong to it). */
  ownership: boolean;
  /** Access and modification times, to the nanosecond. */
  timestamps: boolean;
  /** Hard links between copied files stay hard links. */
  links: boolean;
  /** Extended attributes other than the ACL (as root also security.* and trusted.*). */
  xattr: boolean;
}

/** How symlinks in SOURCE are treated: -P never follows, -L always, -H only command-line operands. */
export type Dereference = 'never' | 'always' | 'command-line';

/** --update: which existing DEST files are replaced (`all` = every one, the default). */
export type Update = 'all' | 'older' | 'none';

export interface TreeOptions {
  /** How each regular file's bytes are copied (default `auto`); `dedupe` pairs files by relative path. */
  mode?: CopyMode;
  /** Copy directories and what they hold (cp -r). Without it a directory operand is skipped with an error. */
  recursive?: boolean;
  /** Default: never with `recursive`, else always (as cp). */
  dereference?: Dereference;
  /** Default: nothing preserved (cp -r): new files get SOURCE's permission bits less the umask. */
  preserve?: Partial<Preserve>;
  /**
   * Metadata whose failure to carry over is an error. cp -a is quiet when it cannot keep an
   * owner or an xattr (not root, or a filesystem without xattrs); an explicit --preserve is not.
   */
  requirePreserve?: Partial<Preserve>;
  /** Never replace an existing file (cp -n): it is skipped, even one that appears during the copy. */
  noClobber?: boolean;
  update?: Update;
  /** Stay on the filesystem of each SOURCE operand (cp -x): directories on others are made but not entered. */
  oneFileSystem?: boolean;
  /** DEST is a directory to copy into (cp -t DIR); the sources keep their names. */
  targetDirectory?: boolean;
  /** DEST is the name to copy to, never a directory to copy into (cp -T). */
  noTargetDirectory?: boolean;
  /** Write into existing files instead of replacing them (see CopyOptions.inplace). */
  inplace?: boolean;
  fsync?: boolean;
  /** Parallel workers (default: chosen from the machine, see defaultJobs()). */
  jobs?: number;
  /** Measure shared extents with FIEMAP for each file (costs a call per file; -v asks for it). */
  measureSharing?: boolean;
  reporter?: TreeReporter;
  signal?: AbortSignal;
  /** The umask for new files and directories; default the process's. */
  umask?: number;
  /** In-process only (jobs are run without worker threads): for unit tests that inject a Sys. */
  sys?: Sys;
}

/** What kind of entry a path is. */
export type EntryKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

/** One path done (copied, linked, made, skipped or failed), as -v and --json report it. */
export interface EntryResult {
  source: string;
  dest: string;
  kind: EntryKind;
  /** `copied` (bytes moved or shared), `linked` (a hard link to an earlier copy), `created` (directory, symlink, device), `skipped`. */
  action: 'copied' | 'linked' | 'created' | 'skipped';
  /** For files: bytes by method, fallbacks and measured sharing, as a single copy reports them. */
  bytes?: BytesByMethod;
  totalBytes?: ByteCount;
  fallbacks?: Fallback[];
  sharedBytes?: ByteCount | null;
  /** Why it was skipped: "exists" (-n), "not newer" (-u), "socket", ... */
  reason?: string;
  durationMs?: number;
}

/** A path that failed: the copy goes on with the others. */
export interface TreeError {
  /** The path the failure is about (SOURCE, or DEST when creating it failed). */
  path: string;
  /** Errno name, or null for failures that have none. */
  code: string | null;
  /** One line, as printed after "tscp: ". */
  message: string;
}

export interface TreeCounts {
  files: number;
  directories: number;
  symlinks: number;
  /** Hard links recreated as links. */
  hardLinks: number;
  /** FIFOs and devices recreated. */
  specials: number;
  skipped: number;
  failed: number;
}

export interface TreeResult {
  ok: boolean;
  sources: string[];
  dest: string;
  mode: CopyMode;
  counts: TreeCounts;
  /** Bytes of regular files seen / finished. */
  totalBytes: number;
  bytes: BytesByMethod;
  /** Refusals summed over files: each distinct (from, to, errno) with how many files saw it. */
  fallbacks: (Fallback & { files: number })[];
  errors: TreeError[];
  durationMs: number;
  /** Worker threads used. */
  jobs: number;
  /** The signal fired: the copy stopped early (every finished path is complete). */
  interrupted: boolean;
  /** After an interrupt, workers still blocked in a system call (a FIFO, a hung filesystem). */
  stuckWorkers: number;
  /** --dedupe found different bytes in at least one pair. */
  differs: boolean;
}

/** Events while a tree is copied. Every method is optional. */
export interface TreeReporter {
  /** More of the tree was found: totals so far (they grow while the walk runs). */
  found?(totals: { files: number; bytes: number }): void;
  /** A regular file started copying in some worker. */
  fileStarted?(source: string): void;
  /** Bytes finished so far across the whole run, and files finished. */
  progress?(done: { files: number; bytes: number }): void;
  /** A method a worker switched to (for the progress line). */
  method?(method: Method): void;
  /** One path finished. */
  entry?(result: EntryResult): void;
  /** One path failed (the copy goes on). */
  error?(error: TreeError): void;
}

/** A source operand and what it becomes. */
export interface Operand {
  source: FilePath;
  dest: FilePath;
}
