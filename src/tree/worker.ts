/**
 * A worker thread of the tree copy. It runs batches of tasks one after another with the
 * synchronous single-file engine, so every system call that can block (a slow disk, a
 * FIFO, a hung network filesystem) blocks this thread, never the main thread that redraws
 * progress and handles signals.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { linuxSys, type DirReader } from '../sys/index.js';
import { CopyError } from '../copy/errors.js';
import { runTask, type RunSettings, type Task, type TaskOutcome } from './tasks.js';
import type { Method } from '../copy/types.js';
import { pathText } from '../copy/paths.js';
import { revivePath } from './entry-stat.js';

export interface WorkerInit {
  settings: RunSettings;
  /** Int32Array over it: non-zero once the run is interrupted. */
  abortFlag: SharedArrayBuffer;
}

export type ToWorker = { type: 'batch'; id: number; tasks: Task[] };
export type FromWorker =
  | { type: 'done'; id: number; outcomes: TaskOutcome[]; interrupted: boolean }
  | { type: 'progress'; bytes: number; file?: string; method?: Method };

/** How often a worker tells the main thread how many bytes it moved. */
const PROGRESS_EVERY_MS = 100;

const init = workerData as WorkerInit;
const flag = new Int32Array(init.abortFlag);
/**
 * The engine checks `signal.aborted` between chunks; here it reads the flag the main
 * thread sets, so a worker notices an interrupt within one chunk even while busy.
 */
const signal = {
  get aborted() {
    return Atomics.load(flag, 0) !== 0;
  },
  reason: 'interrupted',
} as unknown as AbortSignal;

const listings = new Map<number, DirReader>();
let pendingBytes = 0;
let lastPost = 0;

function flushProgress(extra: Partial<Extract<FromWorker, { type: 'progress' }>> = {}, force = false): void {
  const now = performance.now();
  if (!force && now - lastPost < PROGRESS_EVERY_MS && !extra.file && !extra.method) return;
  lastPost = now;
  parentPort!.postMessage({ type: 'progress', bytes: pendingBytes, ...extra } satisfies FromWorker);
  pendingBytes = 0;
}

parentPort!.on('message', async (msg: ToWorker) => {
  const outcomes: TaskOutcome[] = [];
  let interrupted = false;
  for (const task of msg.tasks) {
    if (signal.aborted) {
      interrupted = true;
      break;
    }
    if (task.t === 'file' && task.st.size >= 8 * 1024 * 1024) flushProgress({ file: pathText(revivePath(task.src)) }, true);
    try {
      outcomes.push(
        await runTask(
          {
            sys: linuxSys,
            settings: init.settings,
            signal,
            listings,
            onBytes: (n) => {
              pendingBytes += n;
              flushProgress();
            },
            onMethod: (method) => flushProgress({ method }),
          },
          task,
        ),
      );
    } catch (err) {
      if (err instanceof CopyError && err.kind === 'interrupted') {
        interrupted = true;
        break;
      }
      // A bug, not a failed path: report it as one error line rather than dying silently.
      outcomes.push({ errors: [{ path: pathText(revivePath(task.src)), code: null, message: `internal error: ${(err as Error)?.message ?? err}` }] });
    }
  }
  flushProgress({}, true);
  parentPort!.postMessage({ type: 'done', id: msg.id, outcomes, interrupted } satisfies FromWorker);
});
