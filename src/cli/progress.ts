/**
 * The progress bar: cli-progress on stderr, shown only on a terminal (or when forced) and
 * only once a copy has run long enough to be worth watching, so a 3 ms reflink never
 * flashes a bar. It redraws from cli-progress's own timer, which runs because the engine
 * gives the event loop a turn between bounded chunks.
 */
import { readFileSync } from 'node:fs';
import type cliProgress from 'cli-progress';
import type { CopyMode, Method, Reporter } from '../copy/index.js';
import type { TreeReporter } from '../tree/types.js';
import { formatBytes } from './size.js';

/** How long a copy must run before the bar appears. */
export const PROGRESS_DELAY_MS = 250;

const METHOD_LABELS: Record<Method, string> = {
  reflink: 'reflink',
  copy_file_range: 'in-kernel',
  sendfile: 'in-kernel',
  read_write: 'read/write',
  dedupe: 'dedupe',
};

/** Seconds left as mm:ss (h:mm:ss past an hour); a part second left counts as one, so "00:00" means done. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.ceil(seconds - 1e-6);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

/** A piece of the progress line; when the line is too wide, the lowest `keep` goes first. */
export type LineField =
  | { text: string; keep: number; /** may be cut from the left (a path) down to this many characters */ minCut?: number }
  | { /** the bar, drawn `cells` wide */ bar: (cells: number) => string; keep: number; min: number; max: number };

/**
 * The fields joined by two spaces in at most `width` columns (every character here is one
 * column wide). The bar only takes the room the figures leave, and goes before any of them;
 * then the figures go by `keep`, a path being shortened before it is dropped.
 */
export function fitLine(fields: LineField[], width: number): string {
  const gap = 2;
  const live = fields.map((f) => ({ f, text: 'text' in f ? f.text : '', on: 'text' in f ? f.text !== '' : true }));
  const used = () => live.filter((l) => l.on && 'text' in l.f).reduce((n, l, i) => n + l.text.length + (i > 0 ? gap : 0), 0);
  const byKeep = [...live].filter((l) => 'text' in l.f).sort((a, b) => a.f.keep - b.f.keep);
  for (const l of byKeep) {
    if (used() <= width) break;
    if (!l.on) continue;
    const f = l.f as { text: string; minCut?: number };
    const over = used() - width;
    if (f.minCut !== undefined && l.text.length - over - 1 >= f.minCut) l.text = `…${l.text.slice(over + 1)}`;
    else l.on = false;
  }
  // A figure had to go or be shortened: no room for a bar at all.
  const squeezed = live.some((l) => 'text' in l.f && l.f.text !== '' && (!l.on || l.text !== l.f.text));
  const out: string[] = [];
  let room = width - used();
  for (const l of live) {
    if (!l.on) continue;
    if ('bar' in l.f) {
      if (squeezed) continue;
      const cells = Math.min(l.f.max, room - (out.length > 0 || used() > 0 ? gap : 0));
      if (cells < l.f.min) continue;
      room -= cells + gap;
      out.push(l.f.bar(cells));
    } else out.push(l.text);
  }
  return out.join(' '.repeat(gap));
}

/** The columns a progress line may use: the terminal's width less one (never the last column). */
function lineWidth(stream: NodeJS.WritableStream & { columns?: number; isTTY?: boolean }): number {
  return stream.isTTY && stream.columns ? Math.max(10, stream.columns - 1) : 160;
}

/**
 * What the kernel still has to write to disk, from /proc/meminfo (Dirty + Writeback) and
 * /proc/vmstat (the dirty limit past which writers are held to the disk's pace). These are
 * for the whole system: tscp's share is the growth since the copy began, an estimate (other
 * writers move it too). Null where /proc cannot be read.
 */
export function readWriteBack(): { pending: number; limit: number | null } | null {
  try {
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? NaN) * 1024;
    const pending = kb('Dirty') + kb('Writeback');
    if (!Number.isFinite(pending)) return null;
    let limit: number | null = null;
    try {
      const pages = Number(/^nr_dirty_threshold (\d+)$/m.exec(readFileSync('/proc/vmstat', 'utf8'))?.[1] ?? NaN);
      if (Number.isFinite(pages)) limit = pages * 4096;
    } catch {
      limit = null;
    }
    return { pending, limit };
  } catch {
    return null;
  }
}

/** What the ETA is worked out from (bytes, bytes per second, seconds). */
export interface EtaInput {
  total: number;
  done: number;
  /** Bytes per second going into DEST (the page cache, mostly). */
  copyRate: number;
  /** Of `done`, the bytes not yet written to disk (null: unknown). */
  unwritten: number | null;
  /** Bytes per second reaching the disk lately (null: not measured: no write-back seen yet). */
  diskRate: number | null;
  /** How much more may be dirtied before the kernel holds writers to the disk's pace (null: unknown). */
  headroom: number | null;
  /** DEST is flushed (fsync) before the copy ends. */
  fsync: boolean;
  /** The copy is done and the flush is running. */
  syncing: boolean;
}

/**
 * Seconds left, or null when they cannot be known. The page cache takes bytes far faster
 * than a disk, so the rate of the first seconds says nothing of the rest: bytes that fit
 * under the dirty limit go at the copy's rate, the rest at the disk's, and with --fsync
 * every byte must reach the disk before the copy ends. Where that takes a disk rate not yet
 * seen (the kernel had not started writing back), the ETA is unknown rather than a guess.
 */
export function estimateEta(e: EtaInput): number | null {
  const left = Math.max(0, e.total - e.done);
  const copyTime = left === 0 ? 0 : e.copyRate > 0 ? left / e.copyRate : null;
  const disk = e.diskRate !== null && e.diskRate > 0 ? e.diskRate : null;
  if (e.syncing || e.fsync) {
    if (e.unwritten === null) return e.syncing ? null : copyTime;
    const toDisk = left + e.unwritten;
    if (toDisk === 0) return 0;
    if (disk === null || copyTime === null) return null;
    return Math.max(copyTime, toDisk / disk);
  }
  if (copyTime === null || e.headroom === null || left <= e.headroom) return copyTime;
  if (disk === null) return null;
  return e.headroom / e.copyRate + (left - e.headroom) / disk;
}

/**
 * Follows the page cache during one copy: how much of what was copied is not on disk yet,
 * and the rate at which it reaches the disk over the last few seconds.
 */
export class WriteBackTracker {
  private readonly base: number | null;
  private readonly samples: { at: number; written: number }[] = [];

  constructor(private readonly read: typeof readWriteBack = readWriteBack) {
    this.base = read()?.pending ?? null;
  }

  sample(done: number, at: number): { unwritten: number | null; diskRate: number | null; headroom: number | null } {
    const now = this.base === null ? null : this.read();
    if (now === null || this.base === null) return { unwritten: null, diskRate: null, headroom: null };
    const unwritten = Math.min(done, Math.max(0, now.pending - this.base));
    const written = done - unwritten;
    this.samples.push({ at, written });
    while (this.samples.length > 2 && at - this.samples[0]!.at > 3000) this.samples.shift();
    const first = this.samples[0]!;
    const span = (at - first.at) / 1000;
    const diskRate = span >= 0.5 && written > first.written ? (written - first.written) / span : null;
    return { unwritten, diskRate, headroom: now.limit === null ? null : Math.max(0, now.limit - now.pending) };
  }
}

export interface ProgressOptions {
  stream: NodeJS.WritableStream & { columns?: number; isTTY?: boolean };
  delayMs?: number;
  /** Paint the bar with colour (chalk decides from the terminal and NO_COLOR/FORCE_COLOR). */
  paint?: (s: string) => string;
  /** The copy ends with fsync: the ETA counts the write-back, and a "syncing" stage is shown. */
  fsync?: boolean;
}

export class ProgressReporter implements Reporter {
  private bar?: cliProgress.SingleBar;
  private lib?: typeof cliProgress;
  private timer?: NodeJS.Timeout;
  private total: number | null = null;
  private done = 0;
  private currentMethod = '';
  private startedAt = 0;
  private stopped = false;
  private syncing = false;
  private writeBack?: WriteBackTracker;
  private readonly onResize = () => this.bar?.render();

  constructor(private readonly options: ProgressOptions) {}

  start(info: { totalBytes: number | null; mode: CopyMode }): void {
    this.total = info.totalBytes;
    this.startedAt = performance.now();
    this.writeBack = new WriteBackTracker();
    if (this.options.fsync) {
      // The syncing stage is drawn the moment fsync starts, which may be before the bar was
      // due: cli-progress must be loaded by then.
      void this.load();
    }
    // cli-progress is loaded only when the bar is due: a quick copy never pays its ~20 ms.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.load().then((lib) => {
        if (!this.stopped && !this.bar) this.show(lib);
      });
    }, this.options.delayMs ?? PROGRESS_DELAY_MS);
    this.timer.unref();
  }

  method(method: Method): void {
    this.currentMethod = METHOD_LABELS[method];
    this.bar?.update(this.done);
  }

  progress(done: number): void {
    this.done = done;
    this.bar?.update(Math.min(done, this.total ?? done));
  }

  /**
   * The engine is about to flush DEST (fsync). That call holds the thread until the disk has
   * the data, so the line is drawn now, synchronously, and stays while it runs.
   */
  stage(stage: 'syncing'): void {
    if (stage !== 'syncing') return;
    this.syncing = true;
    // Shown at once unless the copy was quick and the cache holds little of it.
    const unwritten = this.writeBack?.sample(this.done, performance.now()).unwritten ?? 0;
    if (!this.bar && this.lib && !this.stopped && (performance.now() - this.startedAt >= (this.options.delayMs ?? PROGRESS_DELAY_MS) || unwritten >= 16 * 1024 * 1024)) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.show(this.lib);
    }
    this.bar?.render();
  }

  /** Remove the bar (success or failure): nothing half-drawn stays above the next line. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.options.stream.off?.('resize', this.onResize);
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
  }

  private async load(): Promise<typeof cliProgress> {
    this.lib ??= (await import('cli-progress')).default;
    return this.lib;
  }

  /** The line for `width` columns. */
  line(width: number): string {
    const paint = this.options.paint ?? ((s: string) => s);
    const total = this.total;
    const now = performance.now();
    const seconds = (now - this.startedAt) / 1000;
    const rate = seconds > 0 ? this.done / seconds : 0;
    const bar = (share: number) => (cells: number) => {
      const filled = Math.round(Math.min(1, share) * cells);
      return paint('█'.repeat(filled)) + '░'.repeat(cells - filled);
    };
    const wb = this.writeBack?.sample(this.done, now) ?? { unwritten: null, diskRate: null, headroom: null };
    const eta = total === null ? null : estimateEta({ total, done: this.done, copyRate: rate, fsync: Boolean(this.options.fsync), syncing: this.syncing, ...wb });
    if (this.syncing) {
      // Flushing: the share of the bytes on disk, and what the cache still holds of them.
      const size = total ?? this.done;
      const onDisk = wb.unwritten === null ? null : size - wb.unwritten;
      const fields: LineField[] = [{ text: 'syncing', keep: 8 }];
      if (onDisk !== null && size > 0) {
        fields.push({ bar: bar(onDisk / size), keep: 0, min: 8, max: 24 }, { text: `${String(Math.floor((onDisk / size) * 100)).padStart(3)}%`, keep: 7 });
        fields.push({ text: `${formatBytes(wb.unwritten!)} to write`, keep: 5 });
      }
      fields.push({ text: `ETA ${formatEta(eta)}`, keep: 6 });
      return fitLine(fields, width);
    }
    const fields: LineField[] = [{ text: this.currentMethod, keep: 2 }];
    if (total) {
      fields.push({ bar: bar(this.done / total), keep: 0, min: 8, max: 24 });
      fields.push({ text: `${String(Math.floor((Math.min(this.done, total) / total) * 100)).padStart(3)}%`, keep: 7 });
      fields.push({ text: `${formatBytes(this.done)}/${formatBytes(total)}`, keep: 5 });
    } else fields.push({ text: formatBytes(this.done), keep: 5 });
    fields.push({ text: `${formatBytes(rate)}/s`, keep: 3 });
    if (total) fields.push({ text: `ETA ${formatEta(eta)}`, keep: 6 });
    // Room for the method to line up over successive copies, when there is room at all.
    if (width >= 80) fields[0] = { text: this.currentMethod.padEnd(10), keep: 2 };
    return fitLine(fields, width);
  }

  private show(lib: typeof cliProgress): void {
    this.bar = new lib.SingleBar({
      stream: this.options.stream,
      format: () => this.line(lineWidth(this.options.stream)),
      fps: 10,
      hideCursor: true,
      clearOnComplete: true,
      // The line is made to fit the terminal; the terminal must not wrap it either.
      linewrap: false,
      // Drawn only where the CLI chose to (a terminal, or --progress): then draw, TTY or not.
      noTTYOutput: true,
    });
    // A resized terminal (SIGWINCH) gets a line for its new width at once.
    this.options.stream.on?.('resize', this.onResize);
    this.bar.start(this.total ?? 1, this.done);
  }
}

/**
 * The progress line of a tree copy: files and bytes done out of what the walk has found
 * so far (the totals grow while it runs), rate, ETA and the file being copied.
 */
export class TreeProgressReporter implements TreeReporter {
  private bar?: cliProgress.SingleBar;
  private timer?: NodeJS.Timeout;
  private readonly startedAt = performance.now();
  private totals = { files: 0, bytes: 0 };
  private done = { files: 0, bytes: 0 };
  private current = '';
  private currentMethod = '';
  private stopped = false;
  private readonly onResize = () => this.bar?.render();

  constructor(private readonly options: ProgressOptions) {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void import('cli-progress').then((m) => {
        if (!this.stopped) this.show(m.default);
      });
    }, options.delayMs ?? PROGRESS_DELAY_MS);
    this.timer.unref();
  }

  found(totals: { files: number; bytes: number }): void {
    this.totals = totals;
  }

  fileStarted(source: string): void {
    this.current = source;
  }

  method(method: Method): void {
    this.currentMethod = METHOD_LABELS[method];
  }

  progress(done: { files: number; bytes: number }): void {
    this.done = done;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.options.stream.off?.('resize', this.onResize);
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
  }

  /** The line for `width` columns. */
  line(width: number): string {
    const paint = this.options.paint ?? ((s: string) => s);
    const { totals: found, done } = this;
    const seconds = (performance.now() - this.startedAt) / 1000;
    const rate = seconds > 0 ? done.bytes / seconds : 0;
    const share = found.bytes > 0 ? Math.min(1, done.bytes / found.bytes) : found.files > 0 ? done.files / found.files : 0;
    const bar = (cells: number) => {
      const filled = Math.round(share * cells);
      return paint('█'.repeat(filled)) + '░'.repeat(cells - filled);
    };
    const eta = rate > 0 ? formatEta((found.bytes - done.bytes) / rate) : '--:--';
    const name = this.current.length > 40 ? `…${this.current.slice(-39)}` : this.current;
    return fitLine(
      [
        { bar, keep: 0, min: 8, max: 20 },
        { text: `${String(Math.floor(share * 100)).padStart(3)}%`, keep: 9 },
        { text: `${done.files}/${found.files} files`, keep: 7 },
        { text: `${formatBytes(done.bytes)}/${formatBytes(found.bytes)}`, keep: 6 },
        { text: `${formatBytes(rate)}/s`, keep: 4 },
        { text: `ETA ${eta}`, keep: 8 },
        { text: this.currentMethod, keep: 3 },
        { text: name, keep: 2, minCut: 12 },
      ],
      width,
    );
  }

  private show(lib: typeof cliProgress): void {
    this.bar = new lib.SingleBar({
      stream: this.options.stream,
      format: () => this.line(lineWidth(this.options.stream)),
      fps: 10,
      hideCursor: true,
      clearOnComplete: true,
      linewrap: false,
      noTTYOutput: true,
    });
    this.options.stream.on?.('resize', this.onResize);
    this.bar.start(1, 0);
  }
}
