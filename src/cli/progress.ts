/**
 * The progress bar: cli-progress on stderr, shown only on a terminal (or when forced) and
 * only once a copy has run long enough to be worth watching, so a 3 ms reflink never
 * flashes a bar. It redraws from cli-progress's own timer, which runs because the engine
 * gives the event loop a turn between bounded chunks.
 */
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

interface Payload {
  method: string;
  rate: number;
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

export interface ProgressOptions {
  stream: NodeJS.WritableStream;
  delayMs?: number;
  /** Paint the bar with colour (chalk decides from the terminal and NO_COLOR/FORCE_COLOR). */
  paint?: (s: string) => string;
}

export class ProgressReporter implements Reporter {
  private bar?: cliProgress.SingleBar;
  private timer?: NodeJS.Timeout;
  private total: number | null = null;
  private done = 0;
  private currentMethod = '';
  private startedAt = 0;
  private stopped = false;

  constructor(private readonly options: ProgressOptions) {}

  start(info: { totalBytes: number | null; mode: CopyMode }): void {
    this.total = info.totalBytes;
    this.startedAt = performance.now();
    // cli-progress is loaded only when the bar is due: a quick copy never pays its ~20 ms.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void import('cli-progress').then((m) => {
        if (!this.stopped) this.show(m.default);
      });
    }, this.options.delayMs ?? PROGRESS_DELAY_MS);
    this.timer.unref();
  }

  method(method: Method): void {
    this.currentMethod = METHOD_LABELS[method];
    this.bar?.update(this.done, this.payload());
  }

  progress(done: number): void {
    this.done = done;
    this.bar?.update(Math.min(done, this.total ?? done), this.payload());
  }

  /** Remove the bar (success or failure): nothing half-drawn stays above the next line. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
  }

  private payload(): Payload {
    const seconds = (performance.now() - this.startedAt) / 1000;
    return { method: this.currentMethod, rate: seconds > 0 ? this.done / seconds : 0 };
  }

  private show(lib: typeof cliProgress): void {
    const paint = this.options.paint ?? ((s: string) => s);
    const format = (_o: cliProgress.Options, params: cliProgress.Params, payload: Payload): string => {
      const total = this.total;
      const pct = total ? Math.floor((params.value / total) * 100) : 0;
      const width = 24;
      const filled = total ? Math.round((params.value / total) * width) : 0;
      const bar = total ? paint('█'.repeat(filled)) + '░'.repeat(width - filled) : '';
      const eta = total && payload.rate > 0 ? formatEta((total - params.value) / payload.rate) : '--:--';
      const amount = total ? `${formatBytes(params.value)}/${formatBytes(total)}` : formatBytes(params.value);
      const parts = [payload.method.padEnd(10), total ? `${bar} ${String(pct).padStart(3)}%` : '', amount, `${formatBytes(payload.rate)}/s`, total ? `ETA ${eta}` : ''];
      return parts.filter(Boolean).join('  ');
    };
    this.bar = new lib.SingleBar({
      stream: this.options.stream,
      format,
      fps: 10,
      hideCursor: true,
      clearOnComplete: true,
      linewrap: false,
      barsize: 24,
      // Drawn only where the CLI chose to (a terminal, or --progress): then draw, TTY or not.
      noTTYOutput: true,
    });
    this.bar.start(this.total ?? 1, this.done, this.payload());
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
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
  }

  private line(): string {
    const paint = this.options.paint ?? ((s: string) => s);
    const { totals: found, done } = this;
    const seconds = (performance.now() - this.startedAt) / 1000;
    const rate = seconds > 0 ? done.bytes / seconds : 0;
    const share = found.bytes > 0 ? Math.min(1, done.bytes / found.bytes) : found.files > 0 ? done.files / found.files : 0;
    const width = 20;
    const filled = Math.round(share * width);
    const bar = paint('█'.repeat(filled)) + '░'.repeat(width - filled);
    const eta = rate > 0 ? formatEta((found.bytes - done.bytes) / rate) : '--:--';
    const name = this.current.length > 40 ? `…${this.current.slice(-39)}` : this.current;
    return [
      `${bar} ${String(Math.floor(share * 100)).padStart(3)}%`,
      `${done.files}/${found.files} files`,
      `${formatBytes(done.bytes)}/${formatBytes(found.bytes)}`,
      `${formatBytes(rate)}/s`,
      `ETA ${eta}`,
      this.currentMethod,
      name,
    ]
      .filter(Boolean)
      .join('  ');
  }

  private show(lib: typeof cliProgress): void {
    this.bar = new lib.SingleBar({
      stream: this.options.stream,
      format: () => this.line(),
      fps: 10,
      hideCursor: true,
      clearOnComplete: true,
      linewrap: false,
      noTTYOutput: true,
    });
    this.bar.start(1, 0);
  }
}
