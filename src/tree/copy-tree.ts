/**
 * copyTree(): cp -r / cp -a. The main thread plans and schedules; worker threads do every
 * system call. How the work flows:
 *
 * - A directory task makes DEST's directory and lists SOURCE's, a slice of names at a time;
 *   its entries come back to the scheduler as tasks (files, symlinks, devices, hard links,
 *   subdirectories).
 * - Tasks go to workers in batches. Files are served before new directories are listed,
 *   and listing pauses while many tasks wait, so memory stays bounded however large the tree.
 * - Each directory counts its unfinished entries; when the count reaches zero its own
 *   metadata (times, owner, xattrs, mode) is set, after its contents, as cp does.
 * - Hard links (with preserve.links) are remembered by (device, inode): the first name is
 *   copied, later names are linked to it once that copy has finished.
 */
import os from 'node:os';
import { pathText, joinPath, quotePath, type FilePath } from '../copy/paths.js';
import type { BytesByMethod, Fallback } from '../copy/types.js';
import { addByteCounts } from '../copy/bytes.js';
import { INTERRUPT_GRACE_MS, revivePath } from '../copy/cross-thread.js';
import type { EntryStat } from './entry-stat.js';
import { OperandError, planOperands, type PlannedOperand } from './plan.js';
import { InlinePool, WorkerPool, type BatchResult, type PoolEvents, type Runner } from './pool.js';
import type { FreshDirectory, ListedEntry, RunSettings, Task, TaskOutcome } from './tasks.js';
import type { EntryResult, Preserve, TreeCounts, TreeError, TreeOptions, TreeResult } from './types.js';

export { OperandError, planOperands };

export type Plan = { operands: PlannedOperand[]; errors: TreeError[] };

/**
 * Workers when -j is not given: one per CPU (at least 2, at most 8). Measured on the 2-core
 * machine with the bench's 50,000-file, 1 GiB tree, ext4 to ext4, two rounds: -j 1 took
 * 6.6-7.1 s, -j 2 4.2 s, -j 3 4.5-4.9 s, -j 4 4.7-5.5 s (cp -a 3.0 s); with the page cache
 * warm a worker is busy on the CPU (the kernel's copy included), so more workers than cores
 * only add contention and memory (90, 115, 130-142, 152-154 MiB).
 */
export function defaultJobs(): number {
  return Math.min(8, Math.max(2, os.availableParallelism()));
}

/** Tasks waiting before listing pauses: bounds memory on huge trees. */
const HIGH_WATER = 16384;
/** Tasks per batch sent to a worker, and bytes of regular files per batch. */
const BATCH_TASKS = 64;
const BATCH_BYTES = 32 * 1024 * 1024;
/** Batches in flight per worker: one running, one queued behind it, so none waits idle. */
const IN_FLIGHT_PER_WORKER = 2;

const NOTHING: Preserve = { mode: false, ownership: false, timestamps: false, links: false, xattr: false };

/** A directory being copied: how many of its entries are unfinished. */
interface DirNode {
  parent: DirNode | null;
  src: FilePath;
  dest: FilePath;
  st: EntryStat;
  /** Entries not yet finished, plus one while its listing is still being read. */
  pending: number;
  created: boolean;
  /** Set when this run made the directory. */
  fresh?: FreshDirectory;
  /** The device of the operand it came from (for -x). */
  rootDev: number;
}

interface Queued {
  task: Task;
  parent: DirNode | null;
  /** For dir tasks: the node the listing fills. */
  node?: DirNode;
  /** For the first name of a hard-link group: its key. */
  linkKey?: string;
}

interface LinkGroup {
  dest: FilePath | null;
  state: 'copying' | 'done' | 'failed';
  waiting: Queued[];
}

function emptyBytes(): BytesByMethod {
  return { reflinked: 0, copyFileRange: 0, sendfile: 0, readWrite: 0, deduplicated: 0, holes: 0 };
}

/**
 * Copy SOURCES to DEST as cp -r (and with `preserve`, cp -a) does. Never rejects for a
 * failed path (see result.errors); rejects with an OperandError when the operands cannot
 * work at all (several sources and DEST not a directory), before anything is touched.
 */
export async function copyTree(sources: FilePath[], dest: FilePath, options: TreeOptions = {}): Promise<TreeResult> {
  return copyPlanned(await planOperands(sources, dest, options), sources, dest, options);
}

/** copyTree() for operands already planned with planOperands() (the CLI checks them first). */
export async function copyPlanned(plan: Plan, sources: FilePath[], dest: FilePath, options: TreeOptions = {}): Promise<TreeResult> {
  return new TreeRun(sources, dest, options).run(plan);
}

class TreeRun {
  private readonly started = performance.now();
  private readonly settings: RunSettings;
  private readonly counts: TreeCounts = { files: 0, directories: 0, symlinks: 0, hardLinks: 0, specials: 0, skipped: 0, failed: 0 };
  private readonly bytes = emptyBytes();
  private readonly fallbacks = new Map<string, Fallback & { files: number }>();
  private readonly errors: TreeError[] = [];
  private differs = false;

  /** Work waiting: directory finishes first, then entries, then directories to list. */
  private readonly finishQueue: Queued[] = [];
  private readonly entryQueue: Queued[] = [];
  private readonly dirStack: Queued[] = [];
  /** Listings to continue, each on the worker that holds its open directory. */
  private readonly resumeBySlot: Queued[][] = [];
  private readonly inFlight: number[] = [];
  private readonly links = new Map<string, LinkGroup>();
  private nextDirId = 1;

  private found = { files: 0, bytes: 0 };
  private done = { files: 0, bytes: 0 };
  private pool!: Runner;
  /** Nothing new starts: the signal fired, or a worker thread failed. */
  private stopped = false;
  /** Stopped by the signal (a worker's failure is an error, not an interrupt). */
  private interrupted = false;
  private finished!: () => void;
  private graceTimer?: NodeJS.Timeout;

  constructor(
    private readonly sources: FilePath[],
    private readonly dest: FilePath,
    private readonly options: TreeOptions,
  ) {
    const preserve = { ...NOTHING, ...options.preserve };
    this.settings = {
      mode: options.mode ?? 'auto',
      preserve,
      // Times and mode that cannot be kept are errors; owner and xattrs only when asked by name
      // (cp -a is quiet about them: not root, or a filesystem without xattrs).
      require: { ...NOTHING, mode: preserve.mode, timestamps: preserve.timestamps, ...options.requirePreserve },
      dereference: options.dereference ?? (options.recursive ? 'never' : 'always'),
      noClobber: options.noClobber ?? false,
      update: options.update ?? 'all',
      inplace: options.inplace ?? false,
      fsync: options.fsync ?? false,
      umask: options.umask ?? process.umask(),
      measureSharing: options.measureSharing ?? false,
      oneFileSystem: options.oneFileSystem ?? false,
      reportEntries: options.reporter?.entry !== undefined,
    };
  }

  async run({ operands, errors }: Plan): Promise<TreeResult> {
    for (const e of errors) this.fail(e);
    const jobs = this.options.sys ? 1 : Math.max(1, Math.floor(this.options.jobs ?? defaultJobs()));
    const events: PoolEvents = {
      bytes: (n) => {
        this.done.bytes += n;
        this.options.reporter?.progress?.({ ...this.done });
      },
      file: (p) => this.options.reporter?.fileStarted?.(p),
      method: (m) => this.options.reporter?.method?.(m),
    };
    let stuckWorkers = 0;
    if (operands.length > 0) {
      // Never more workers than there can be work for at the start of a single small copy.
      const size = operands.length === 1 && operands[0]!.st.kind !== 'directory' ? 1 : jobs;
      this.pool = this.options.sys ? new InlinePool(this.options.sys, this.settings, events) : new WorkerPool(size, this.settings, events);
      for (let i = 0; i < this.pool.size; i++) {
        this.resumeBySlot.push([]);
        this.inFlight.push(0);
      }
      for (const op of operands) this.enqueueEntry(op.source, op.dest, op.st, null, false, true);
      const onAbort = () => this.interrupt();
      this.options.signal?.addEventListener('abort', onAbort);
      if (this.options.signal?.aborted) this.interrupt();
      try {
        await new Promise<void>((resolve) => {
          this.finished = resolve;
          this.pump();
        });
        clearTimeout(this.graceTimer);
        if (this.stopped) stuckWorkers = this.pool.busy();
      } finally {
        this.options.signal?.removeEventListener('abort', onAbort);
        this.pool.close();
      }
    }
    const ok = this.errors.length === 0 && !this.stopped;
    return {
      ok,
      sources: this.sources.map(pathText),
      dest: pathText(this.dest),
      mode: this.settings.mode,
      counts: this.counts,
      totalBytes: this.found.bytes,
      bytes: this.bytes,
      fallbacks: [...this.fallbacks.values()],
      errors: this.errors,
      durationMs: performance.now() - this.started,
      jobs: operands.length > 0 ? this.pool.size : 0,
      interrupted: this.interrupted,
      stuckWorkers,
      differs: this.differs,
    };
  }

  private interrupt(): void {
    if (this.stopped) return;
    this.interrupted = true;
    this.stop();
  }

  /**
   * A worker thread died (a bug, out of memory): its files' outcomes are lost, so the run
   * stops as on an interrupt, and says why as an error rather than as a signal.
   */
  private workerFailed(err: Error): void {
    if (this.stopped) return;
    this.fail({ path: pathText(this.dest), code: null, message: `internal error: a worker thread failed: ${err.message}` });
    this.stop();
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.pool?.interrupt();
    // Nothing new starts; what runs stops at its next chunk.
    this.finishQueue.length = 0;
    this.entryQueue.length = 0;
    this.dirStack.length = 0;
    for (const q of this.resumeBySlot) q.length = 0;
    this.maybeFinished();
  }

  // -------------------------------------------------------------------------------------
  // Turning entries into tasks

  /**
   * Queue one entry found in `parent` (or an operand, parent null). `destAbsent` is true
   * when DEST's directory was made by this run, so nothing can be at DEST yet.
   */
  private enqueueEntry(src: FilePath, dest: FilePath, st: EntryStat, parent: DirNode | null, destAbsent: boolean, operand = false, stay = false): void {
    const recursive = this.options.recursive ?? false;
    // --dedupe pairs regular files; there is nothing to make for anything else.
    if (this.settings.mode === 'dedupe' && st.kind !== 'file' && st.kind !== 'directory') return;
    if (st.kind === 'directory' && parent && this.isAncestor(parent, st)) {
      // Only reachable by following symlinks (-L): cp's "directory causes a cycle".
      this.fail({ path: pathText(src), code: 'ELOOP', message: `cannot copy ${quotePath(src)}: directory causes a cycle` });
      return;
    }
    if (parent) parent.pending++;
    if (st.kind === 'directory') {
      const rootDev = operand || !parent ? st.dev : parent.rootDev;
      const node: DirNode = { parent, src, dest, st, pending: 1, created: false, rootDev };
      const make = this.settings.mode !== 'dedupe';
      const task: Task = { t: 'dir', id: this.nextDirId++, src, dest, st, make, rootDev, stay, resume: false };
      this.dirStack.push({ task, parent, node });
      return;
    }
    // A symlink here was not followed (-P), so it is copied as one. FIFOs and devices are
    // recreated under -R; without it their contents are read, as cp does.
    const kind = st.kind === 'symlink' ? 'symlink' : st.kind === 'file' || !recursive ? 'file' : 'special';
    if (kind === 'file') {
      this.found.files++;
      this.found.bytes += st.size;
      this.options.reporter?.found?.({ ...this.found });
    }
    const queued: Queued = { task: { t: kind, src, dest, st, destAbsent, fresh: parent?.fresh }, parent };
    if (this.settings.preserve.links && st.nlink > 1 && this.settings.mode !== 'dedupe') {
      const key = `${st.dev}:${st.ino}`;
      const group = this.links.get(key);
      if (group) {
        const link: Queued = { task: { t: 'link', src, dest, to: group.dest ?? dest, st, destAbsent }, parent };
        if (group.state === 'done') this.entryQueue.push(link);
        else if (group.state === 'failed') this.entryQueue.push(queued);
        else group.waiting.push(link);
        return;
      }
      this.links.set(key, { dest, state: 'copying', waiting: [] });
      queued.linkKey = key;
    }
    this.entryQueue.push(queued);
  }

  private isAncestor(node: DirNode | null, st: EntryStat): boolean {
    for (let n = node; n; n = n.parent) if (n.st.dev === st.dev && n.st.ino === st.ino) return true;
    return false;
  }

  // -------------------------------------------------------------------------------------
  // Scheduling

  private pump(): void {
    if (this.stopped) return this.maybeFinished();
    for (let slot = 0; slot < this.pool.size; slot++) {
      while (this.inFlight[slot]! < IN_FLIGHT_PER_WORKER) {
        const batch = this.nextBatch(slot);
        if (batch.length === 0) break;
        this.inFlight[slot]!++;
        void this.pool
          .run(
            slot,
            batch.map((q) => q.task),
          )
          .then(
            (result) => this.completed(slot, batch, result),
            (err: Error) => {
              this.inFlight[slot]!--;
              this.workerFailed(err);
            },
          );
      }
    }
    this.maybeFinished();
  }

  private nextBatch(slot: number): Queued[] {
    const batch: Queued[] = [];
    let bytes = 0;
    const waiting = this.entryQueue.length;
    // A listing continues on the worker holding its directory, unless enough work waits.
    const resume = this.resumeBySlot[slot]!;
    if (resume.length > 0 && waiting < HIGH_WATER) batch.push(resume.shift()!);
    while (batch.length < BATCH_TASKS && this.finishQueue.length > 0) batch.push(this.finishQueue.shift()!);
    while (batch.length < BATCH_TASKS && bytes < BATCH_BYTES && this.entryQueue.length > 0) {
      // Oldest first: entries of one directory stay together, and each finishes sooner.
      const q = this.entryQueue.shift()!;
      batch.push(q);
      if (q.task.t === 'file') bytes += q.task.st.size;
    }
    // A new listing only when little else waits: depth-first, bounded memory.
    if (batch.length < BATCH_TASKS && this.entryQueue.length < HIGH_WATER / 2 && this.dirStack.length > 0 && !batch.some((q) => q.task.t === 'dir')) {
      batch.push(this.dirStack.pop()!);
    }
    return batch;
  }

  private maybeFinished(): void {
    const idle = this.inFlight.every((n) => n === 0);
    const empty =
      this.finishQueue.length === 0 && this.entryQueue.length === 0 && this.dirStack.length === 0 && this.resumeBySlot.every((q) => q.length === 0);
    if (this.finished && idle && (empty || this.stopped)) this.finished();
    else if (this.finished && this.stopped && !idle && !this.graceTimer) {
      // Interrupted while workers still run: they stop at their next chunk and clean up,
      // but a worker stuck in a system call (a FIFO, a hung filesystem) is not waited for.
      this.graceTimer = setTimeout(() => this.finished(), INTERRUPT_GRACE_MS);
    }
  }

  private completed(slot: number, batch: Queued[], result: BatchResult): void {
    this.inFlight[slot]!--;
    result.outcomes.forEach((outcome, i) => this.outcome(slot, batch[i]!, outcome));
    if (result.summary) {
      for (const k of Object.keys(this.bytes) as (keyof BytesByMethod)[]) this.bytes[k] = addByteCounts(this.bytes[k], result.summary.bytes[k]);
      for (const f of result.summary.fallbacks) this.addFallback(f, f.files);
    }
    if (result.failure) this.workerFailed(result.failure);
    else if (result.interrupted) this.interrupt();
    this.pump();
  }

  // -------------------------------------------------------------------------------------
  // Outcomes

  private outcome(slot: number, q: Queued, o: TaskOutcome): void {
    for (const e of o.errors) this.fail(e);
    if (o.differs) this.differs = true;
    const task = q.task;
    if (task.t === 'dir') return this.listed(slot, q, o);
    if (task.t === 'dirDone') {
      if (o.entry) this.report(o.entry);
      return this.entryFinished(q.parent);
    }
    if (o.entry) {
      this.report(o.entry);
      this.count(o.entry);
    } else if (task.t === 'file') {
      this.counts.failed++;
    }
    if (q.linkKey) this.linkGroupSettled(q.linkKey, o.entry !== undefined && o.entry.action !== 'skipped' ? 'done' : 'failed');
    if (task.t === 'file') {
      this.done.files++;
      this.options.reporter?.progress?.({ ...this.done });
    }
    this.entryFinished(q.parent);
  }

  private linkGroupSettled(key: string, state: 'done' | 'failed'): void {
    const group = this.links.get(key)!;
    group.state = state;
    for (const waiter of group.waiting.splice(0)) {
      if (state === 'done') this.entryQueue.push(waiter);
      else {
        // The first copy failed: copy this name on its own rather than link to nothing.
        const t = waiter.task as Extract<Task, { t: 'link' }>;
        this.entryQueue.push({ task: { t: 'file', src: t.src, dest: t.dest, st: t.st, destAbsent: t.destAbsent }, parent: waiter.parent });
      }
    }
  }

  private listed(slot: number, q: Queued, o: TaskOutcome): void {
    const node = q.node!;
    const task = q.task as Extract<Task, { t: 'dir' }>;
    if (!task.resume) {
      if (o.listed === undefined) {
        // The directory could not be made or opened: it and its contents are failed.
        this.counts.failed++;
        return this.entryFinished(node.parent);
      }
      node.created = o.created ?? false;
      node.fresh = o.fresh;
      // A directory whose SOURCE could not be read is a failed path, not a copied directory.
      if (o.unreadable) this.counts.failed++;
      else this.counts.directories++;
    }
    // Entries that could not even be looked at (lstat failed) are failed paths too.
    if (!o.unreadable) this.counts.failed += o.errors.length;
    if (o.listed === undefined) {
      node.pending--;
      return this.maybeDirDone(node);
    }
    for (const entry of o.listed as ListedEntry[]) {
      const name = revivePath(entry.name);
      this.enqueueEntry(joinPath(node.src, name), joinPath(node.dest, name), entry.st, node, node.created, false, entry.stay);
    }
    if (o.more) {
      this.resumeBySlot[slot]!.push({ task: { ...task, resume: true }, parent: q.parent, node });
    } else {
      node.pending--;
      this.maybeDirDone(node);
    }
  }

  private entryFinished(parent: DirNode | null): void {
    if (!parent) return;
    parent.pending--;
    this.maybeDirDone(parent);
  }

  private maybeDirDone(node: DirNode): void {
    if (node.pending > 0) return;
    if (this.settings.mode === 'dedupe') return this.entryFinished(node.parent);
    this.finishQueue.push({ task: { t: 'dirDone', src: node.src, dest: node.dest, st: node.st, created: node.created }, parent: node.parent });
  }

  private count(e: EntryResult): void {
    if (e.action === 'skipped') {
      this.counts.skipped++;
      return;
    }
    if (e.action === 'linked') this.counts.hardLinks++;
    else if (e.kind === 'file') this.counts.files++;
    else if (e.kind === 'symlink') this.counts.symlinks++;
    else if (e.kind !== 'directory') this.counts.specials++;
    if (e.bytes) {
      for (const k of Object.keys(this.bytes) as (keyof BytesByMethod)[]) this.bytes[k] = addByteCounts(this.bytes[k], e.bytes[k]);
    }
    for (const f of e.fallbacks ?? []) this.addFallback(f, 1);
  }

  private addFallback(f: Fallback, files: number): void {
    const key = `${f.from}>${f.to}>${f.errno}`;
    const seen = this.fallbacks.get(key);
    if (seen) seen.files += files;
    else this.fallbacks.set(key, { from: f.from, to: f.to, errno: f.errno, files });
  }

  private report(e: EntryResult): void {
    this.options.reporter?.entry?.(e);
  }

  private fail(e: TreeError): void {
    this.errors.push(e);
    this.options.reporter?.error?.(e);
  }
}
