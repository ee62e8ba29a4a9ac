/**
 * What the CLI's main thread and its copy worker (copy-worker.ts) say to each other. Kept
 * apart from the worker's code so the main thread can use it without running the worker.
 */
import type { CopyErrorDetails } from '../copy/errors.js';
import type { CopyMode, CopyOptions, CopyResult, Fallback, Method } from '../copy/types.js';

/** What the main thread shares with the worker before any job. */
export interface CopyWorkerData {
  /** Int32Array over it: non-zero once a signal asked the copy to stop. */
  abortFlag: SharedArrayBuffer;
  /** BigInt64Array over it: bytes done so far, readable even while the worker is blocked. */
  done: SharedArrayBuffer;
}

/** A path as it crossed threads: a Buffer arrives as a plain Uint8Array (revivePath makes it one again). */
export type SentPath = string | Uint8Array;

/** The options that cross to the worker: plain data, no callbacks, no Sys. */
export type JobOptions = Pick<CopyOptions, 'mode' | 'srcOffset' | 'dstOffset' | 'length' | 'inplace' | 'fsync' | 'noClobber' | 'noTargetDirectory' | 'umask' | 'unnamedTemp'>;

export interface CopyJob {
  source: SentPath;
  dest: SentPath;
  options: JobOptions;
  /** Send reporter events (the main thread draws a progress bar). */
  report: boolean;
}

/** A CopyError as plain data (no cause): the main thread builds the same error from it. */
export type SentError = Omit<CopyErrorDetails, 'cause' | 'source' | 'dest'> & { source: SentPath; dest: SentPath };

export type FromCopyWorker =
  | { type: 'target'; path: SentPath }
  | { type: 'temp'; path: SentPath }
  | { type: 'start'; info: { source: string; dest: string; totalBytes: number | null; mode: CopyMode } }
  | { type: 'method'; method: Method }
  | { type: 'fallback'; fallback: Fallback }
  | { type: 'stage'; stage: 'syncing' }
  | { type: 'progress'; done: number; total: number | null }
  | { type: 'done'; result: CopyResult }
  | { type: 'failed'; error: SentError }
  | { type: 'crashed'; message: string };
