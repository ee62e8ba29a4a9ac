/**
 * The main thread's side of a single-file copy. The copy runs in a worker thread
 * (copy-worker.ts) because a system call can block for ever (open() of a FIFO no one
 * writes to, read() from a hung NFS or FUSE mount), and while the main thread is blocked
 * Node runs no signal handler: SIGINT and SIGTERM would do nothing. Here the main thread
 * only waits for messages, so it always hears a signal.
 *
 * A signal sets the shared abort flag; the engine stops at its next chunk and cleans up
 * after itself. A worker still blocked after INTERRUPT_GRACE_MS is given up on: the caller
 * removes the temporary file it was told about and dies by the signal (Node cannot exit
 * while a worker is blocked in a system call).
 */
import { promises as fsp } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { CopyError } from '../copy/errors.js';
import type { FilePath } from '../copy/paths.js';
import type { CopyResult, Fallback, Reporter } from '../copy/types.js';
import { INTERRUPT_GRACE_MS, IN_BUNDLE, REMOVE_WITHIN_MS, besideModule, revivePath as revive, withinMs } from '../copy/cross-thread.js';
import { type CopyJob, type CopyWorkerData, type FromCopyWorker, type JobOptions } from './copy-messages.js';

/** This module runs as TypeScript, under the test runner's loader. */
const FROM_SOURCE = !IN_BUNDLE && import.meta.url.endsWith('.ts');

/**
 * The worker's module. Under the test runner each worker would compile the whole engine
 * again through the TypeScript loader (seconds per copy): the compiled worker in dist/ is
 * used instead, without the runner's loaders (the tests build dist/ first).
 */
function workerModule(): string | URL {
  return FROM_SOURCE ? new URL('../../dist/cli/copy-worker.js', import.meta.url) : besideModule('./copy-worker.js', import.meta.url);
}

export type ThreadOutcome =
  | { result: CopyResult }
  | { error: CopyError }
  /** The worker did not stop within the grace: the interruption, as far as the main thread knows it. */
  | { stuck: CopyError };

export class CopyThread {
  private readonly worker: Worker;
  private readonly abortFlag = new SharedArrayBuffer(4);
  private readonly done = new SharedArrayBuffer(8);
  private target?: FilePath;
  private temp?: FilePath;
  private readonly fallbacks: Fallback[] = [];
  private failure?: Error;
  /** run() was called: the worker has (or had) a job and ends on its own. */
  started = false;

  constructor() {
    const workerData: CopyWorkerData = { abortFlag: this.abortFlag, done: this.done };
    this.worker = new Worker(workerModule(), { workerData, stdout: false, stderr: false, ...(FROM_SOURCE ? { execArgv: [] } : {}) });
    // Until it has a job, a worker must not keep the process alive (--help, a usage error).
    this.worker.unref();
    this.worker.on('error', (err) => (this.failure ??= err));
  }

  /** Copy in the worker; resolves when it finished, failed, or was given up on after a signal. */
  run(source: FilePath, dest: FilePath, options: JobOptions, reporter: Reporter | undefined, signal: AbortSignal): Promise<ThreadOutcome> {
    this.started = true;
    return new Promise<ThreadOutcome>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (outcome: ThreadOutcome | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(grace);
        signal.removeEventListener('abort', onAbort);
        this.worker.unref();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const onAbort = () => {
        Atomics.store(new Int32Array(this.abortFlag), 0, 1);
        grace ??= setTimeout(() => settle({ stuck: this.interruption(source, dest) }), INTERRUPT_GRACE_MS);
      };
      this.worker.on('message', (msg: FromCopyWorker) => {
        switch (msg.type) {
          case 'target':
            this.target = revive(msg.path);
            return;
          case 'temp':
            this.temp = revive(msg.path);
            return;
          case 'start':
            return reporter?.start?.(msg.info);
          case 'method':
            return reporter?.method?.(msg.method);
          case 'stage':
            return reporter?.stage?.(msg.stage);
          case 'fallback':
            this.fallbacks.push(msg.fallback);
            return reporter?.fallback?.(msg.fallback);
          case 'progress':
            return reporter?.progress?.(msg.done, msg.total);
          case 'done':
            return settle({ result: msg.result });
          case 'failed':
            return settle({ error: new CopyError({ ...msg.error, source: revive(msg.error.source), dest: revive(msg.error.dest) }) });
          case 'crashed':
            return settle(new Error(`copy worker: ${msg.message}`));
        }
      });
      this.worker.on('error', (err) => settle(err));
      this.worker.on('exit', (code) => settle(this.failure ?? new Error(`copy worker exited with status ${code} before finishing`)));
      if (this.failure) return settle(this.failure);
      this.worker.ref();
      const job: CopyJob = { source, dest, options, report: reporter !== undefined };
      this.worker.postMessage(job);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort);
    });
  }

  /**
   * Remove the temporary file the blocked worker was writing, if it made one. Not on this
   * thread (the filesystem may be the hung one): from libuv's pool, waited for a moment.
   */
  async removeTemp(): Promise<void> {
    if (this.temp === undefined) return;
    await withinMs(fsp.unlink(this.temp).catch(() => undefined), REMOVE_WITHIN_MS, undefined);
  }

  /** A worker that never got a job (the command turned out to be something else). */
  async close(): Promise<void> {
    await this.worker.terminate();
  }

  /** What a blocked worker would have reported: interrupted after the bytes it had done. */
  private interruption(source: FilePath, dest: FilePath): CopyError {
    return new CopyError({
      kind: 'interrupted',
      verb: 'copy',
      source,
      dest: this.target ?? dest,
      reason: 'interrupted',
      bytesCopied: Number(Atomics.load(new BigInt64Array(this.done), 0)),
      fallbacks: [...this.fallbacks],
    });
  }
}
