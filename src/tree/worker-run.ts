/**
 * The body of a worker thread of the tree copy (loaded by worker.ts). It runs batches of
 * tasks one after another with the synchronous single-file engine, so every system call
 * that can block (a slow disk, a FIFO, a hung network filesystem) blocks this thread, never
 * the main thread that redraws progress and handles signals.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { linuxSys, type DirReader } from '../sys/index.js';
import { libc } from '../sys/libc.js';
import { CopyError } from '../copy/errors.js';
import { runTask, type RunSettings, type Task, type TaskContext, type TaskOutcome } from './tasks.js';
import type { BytesByMethod, Fallback, Method } from '../copy/types.js';
import { addByteCounts } from '../copy/bytes.js';
import { pathText } from '../copy/paths.js';
import { revivePath, sharedFlagSignal } from '../copy/cross-thread.js';

export interface WorkerInit {
  settings: RunSettings;
  /** Int32Array over it: non-zero once the run is interrupted. */
  abortFlag: SharedArrayBuffer;
  /** Int32Array over it: held by the worker that is loading koffi (see worker.ts). */
  loadLock: SharedArrayBuffer;
}

/** Bind libc now, while worker.ts holds the load lock. */
export function loadNative(): void {
  libc();
}

export type ToWorker = { type: 'batch'; id: number; tasks: Task[] };
/** Bytes and refusals of a batch's files, summed in the worker (when no one asked for each path). */
export interface BatchSummary {
  bytes: BytesByMethod;
  fallbacks: (Fallback & { files: number })[];
}

export type FromWorker =
  | { type: 'done'; id: number; outcomes: TaskOutcome[]; interrupted: boolean; summary?: BatchSummary }
  | { type: 'progress'; bytes: number; file?: string; method?: Method };

/** How often a worker tells the main thread how many bytes it moved. */
const PROGRESS_EVERY_MS = 100;

const init = workerData as WorkerInit;
/** The flag the main thread sets: a worker notices an interrupt within one chunk even while busy. */
const signal = sharedFlagSignal(init.abortFlag);

const listings = new Map<number, DirReader>();
const refusals = new Map<string, Map<Method, string>>();
let pendingBytes = 0;
let lastPost = 0;
let currentFile: string | undefined;
let method: Method | undefined;
let postedMethod: Method | undefined;

/**
 * Tell the main thread how far this worker got, at most every PROGRESS_EVERY_MS: a message
 * costs tens of microseconds, as much as copying a small file, so never one per file.
 */
function flushProgress(force = false): void {
  const now = performance.now();
  if (!force && now - lastPost < PROGRESS_EVERY_MS) return;
  lastPost = now;
  if (pendingBytes === 0 && currentFile === undefined && method === postedMethod) return;
  const changed = method !== postedMethod ? method : undefined;
  parentPort!.postMessage({ type: 'progress', bytes: pendingBytes, file: currentFile, method: changed } satisfies FromWorker);
  postedMethod = method;
  pendingBytes = 0;
  currentFile = undefined;
}

/** One context for every task this worker runs. */
const context: TaskContext = {
  sys: linuxSys,
  settings: init.settings,
  signal,
  listings,
  refusals,
  onBytes: (n) => {
    pendingBytes += n;
    flushProgress();
  },
  onMethod: (m) => {
    method = m;
  },
};

function addToSummary(into: BatchSummary | undefined, bytes: BytesByMethod, fallbacks: Fallback[]): BatchSummary {
  const s = into ?? { bytes: { reflinked: 0, copyFileRange: 0, sendfile: 0, readWrite: 0, deduplicated: 0, holes: 0 }, fallbacks: [] };
  for (const k of Object.keys(s.bytes) as (keyof BytesByMethod)[]) s.bytes[k] = addByteCounts(s.bytes[k], bytes[k]);
  for (const f of fallbacks) {
    const seen = s.fallbacks.find((x) => x.from === f.from && x.to === f.to && x.errno === f.errno);
    if (seen) seen.files++;
    else s.fallbacks.push({ ...f, files: 1 });
  }
  return s;
}

parentPort!.on('message', async (msg: ToWorker) => {
  const outcomes: TaskOutcome[] = [];
  let summary: BatchSummary | undefined;
  let interrupted = false;
  for (const task of msg.tasks) {
    if (signal.aborted) {
      interrupted = true;
      break;
    }
    if (task.t === 'file' && task.st.size >= 1024 * 1024) currentFile = pathText(revivePath(task.src));
    try {
      const outcome = await runTask(context, task);
      // Each result crosses to the main thread (structured clone, the worker's dearest call):
      // without a listener for each path, the batch's sums and each entry's kind are enough.
      if (!init.settings.reportEntries && outcome.entry && outcome.entry.action !== 'skipped') {
        const e = outcome.entry;
        if (e.bytes) summary = addToSummary(summary, e.bytes, e.fallbacks ?? []);
        outcome.entry = { source: '', dest: '', kind: e.kind, action: e.action };
      }
      outcomes.push(outcome);
    } catch (err) {
      if (err instanceof CopyError && err.kind === 'interrupted') {
        interrupted = true;
        break;
      }
      // A bug, not a failed path: report it as one error line rather than dying silently.
      outcomes.push({ errors: [{ path: pathText(revivePath(task.src)), code: null, message: `internal error: ${(err as Error)?.message ?? err}` }] });
    }
  }
  flushProgress(true);
  parentPort!.postMessage({ type: 'done', id: msg.id, outcomes, interrupted, summary } satisfies FromWorker);
});
