/**
 * Where tasks run: a fixed pool of worker threads (the CLI and the library), or the
 * calling thread itself (unit tests that inject a Sys). Either way a batch of tasks goes
 * in and its outcomes come back, in order.
 */
import { Worker } from 'node:worker_threads';
import type { Method } from '../copy/types.js';
import { besideModule } from '../copy/cross-thread.js';
import { holdKoffiWhileStdioIsFile, type Sys } from '../sys/index.js';
import { runTask, type RunSettings, type Task, type TaskOutcome } from './tasks.js';
import type { BatchSummary, FromWorker, ToWorker, WorkerInit } from './worker-run.js';

/**
 * A worker's garbage is short-lived (per-file objects): a small young generation collects
 * it as well and keeps each isolate's memory down. Measured on the bench's 50,000-file tree
 * (2 workers): default 3.65-3.98 s and 162 MiB peak; 4 MiB 3.46 s and 110 MiB; 2 MiB 3.56 s
 * and 113 MiB; 16 MiB 3.46 s and 127 MiB.
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 4 };

/**
 * Node's options for the workers: the process's own, less --input-type, which Node refuses
 * for a worker started from a file (the worker died at once in a program run as
 * `node --input-type=module -e ...`).
 */
const WORKER_EXEC_ARGV = process.execArgv.filter((a) => !a.startsWith('--input-type'));

export interface BatchResult {
  outcomes: TaskOutcome[];
  /** The batch stopped early because the run was interrupted; later tasks did not run. */
  interrupted: boolean;
  /** Bytes and refusals of the batch's files when the outcomes carry only each entry's kind. */
  summary?: BatchSummary;
  /** The worker running the batch died; its outcomes are lost. */
  failure?: Error;
}

export interface PoolEvents {
  bytes(n: number): void;
  file(path: string): void;
  method(m: Method): void;
}

export interface Runner {
  readonly size: number;
  run(slot: number, tasks: Task[]): Promise<BatchResult>;
  /** Ask every task to stop at its next chunk. */
  interrupt(): void;
  /** Slots still busy (a worker blocked in a system call does not return). */
  busy(): number;
  close(): void;
}

/** Worker threads, one V8 isolate each, started once per run. */
export class WorkerPool implements Runner {
  private readonly workers: Worker[] = [];
  private readonly abortFlag = new SharedArrayBuffer(4);
  private readonly loadLock = new SharedArrayBuffer(4);
  private readonly waiting = new Map<number, { resolve(r: BatchResult): void; slot: number }>();
  private nextId = 1;
  private failure?: Error;

  constructor(
    readonly size: number,
    settings: RunSettings,
    private readonly events: PoolEvents,
  ) {
    const init: WorkerInit = { settings, abortFlag: this.abortFlag, loadLock: this.loadLock };
    // Else the last worker to end would unload koffi, whose exit handler then fsyncs a log
    // that stdout or stderr is (sys/stdio-at-exit.ts): a wait for the disk after every tree.
    holdKoffiWhileStdioIsFile();
    for (let i = 0; i < size; i++) {
      const worker = new Worker(besideModule('./worker.js', import.meta.url), { workerData: init, execArgv: WORKER_EXEC_ARGV, stdout: false, stderr: false, resourceLimits: RESOURCE_LIMITS });
      worker.on('message', (msg: FromWorker) => this.receive(msg));
      worker.on('error', (err) => this.crashed(i, err));
      worker.on('exit', (code) => {
        if (code !== 0) this.crashed(i, new Error(`worker exited with status ${code}`));
      });
      this.workers.push(worker);
    }
  }

  run(slot: number, tasks: Task[]): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, { resolve, slot });
      this.workers[slot]!.postMessage({ type: 'batch', id, tasks } satisfies ToWorker);
    });
  }

  interrupt(): void {
    Atomics.store(new Int32Array(this.abortFlag), 0, 1);
  }

  busy(): number {
    return new Set([...this.waiting.values()].map((w) => w.slot)).size;
  }

  close(): void {
    // koffi aborts the process (napi_throw, SIGABRT) when a worker is torn down while it
    // loads the native module, by terminate() or by the process's exit: about one run in
    // ten of a small tree with -j 8, whose copy ends before every worker has loaded. So take
    // the workers' load lock first, and keep it: none is loading once it is ours, and none
    // starts. Waiting for it blocks at most one koffi load (tens of ms), never a copy.
    const lock = new Int32Array(this.loadLock);
    while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 10);
    // Not awaited: a worker stuck in a blocking call never confirms (see the CLI's exit).
    for (const w of this.workers) void w.terminate();
  }

  private receive(msg: FromWorker): void {
    if (msg.type === 'progress') {
      if (msg.bytes) this.events.bytes(msg.bytes);
      if (msg.file) this.events.file(msg.file);
      if (msg.method) this.events.method(msg.method);
      return;
    }
    const waiter = this.waiting.get(msg.id);
    this.waiting.delete(msg.id);
    waiter?.resolve({ outcomes: msg.outcomes, interrupted: msg.interrupted, summary: msg.summary });
  }

  /** A worker died (a bug or out of memory): fail its batches loudly rather than hang. */
  private crashed(slot: number, err: Error): void {
    this.failure ??= err;
    for (const [id, w] of this.waiting) {
      if (w.slot !== slot) continue;
      this.waiting.delete(id);
      w.resolve({ outcomes: [], interrupted: true, failure: err });
    }
  }
}

/** The calling thread as the only worker: same tasks, no threads (for unit tests). */
export class InlinePool implements Runner {
  readonly size = 1;
  private readonly controller = new AbortController();
  private readonly listings = new Map();
  private readonly refusals = new Map();
  private running = 0;

  constructor(
    private readonly sys: Sys,
    private readonly settings: RunSettings,
    private readonly events: PoolEvents,
  ) {}

  async run(_slot: number, tasks: Task[]): Promise<BatchResult> {
    const outcomes: TaskOutcome[] = [];
    this.running++;
    try {
      for (const task of tasks) {
        if (this.controller.signal.aborted) return { outcomes, interrupted: true };
        try {
          outcomes.push(
            await runTask(
              {
                sys: this.sys,
                settings: this.settings,
                signal: this.controller.signal,
                listings: this.listings,
                refusals: this.refusals,
                onBytes: (n) => this.events.bytes(n),
                onMethod: (m) => this.events.method(m),
              },
              task,
            ),
          );
        } catch (err) {
          if ((err as { kind?: string }).kind === 'interrupted') return { outcomes, interrupted: true };
          throw err;
        }
      }
      return { outcomes, interrupted: false };
    } finally {
      this.running--;
    }
  }

  interrupt(): void {
    this.controller.abort('interrupted');
  }

  busy(): number {
    return this.running;
  }

  close(): void {}
}
