/**
 * The worker thread a single-file copy runs on (started by copy-thread.ts). Every system
 * call of the copy happens here: open() of a FIFO that no one writes to, read() from a
 * hung network or FUSE filesystem block this thread, never the main thread, which keeps
 * handling signals and drawing progress.
 *
 * It loads the engine (and with it koffi and libc) as soon as it starts, while the main
 * thread is still parsing the command line, then runs the one job it is sent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { copy } from '../copy/copy.js';
import { CopyError } from '../copy/errors.js';
import type { CopyOptions } from '../copy/types.js';
import { revivePath as revive, sharedFlagSignal } from '../copy/cross-thread.js';
import { type CopyJob, type CopyWorkerData, type FromCopyWorker } from './copy-messages.js';

/** How often progress is sent for the bar (it redraws 10 times a second). */
const PROGRESS_EVERY_MS = 100;

const init = workerData as CopyWorkerData;
const doneSoFar = new BigInt64Array(init.done);
/** The engine reads `aborted` between chunks: here it is the flag the main thread sets. */
const signal = sharedFlagSignal(init.abortFlag);

const port = parentPort!;
const send = (msg: FromCopyWorker) => port.postMessage(msg);

port.once('message', (job: CopyJob) => {
  void run(job);
});

async function run(job: CopyJob): Promise<void> {
  let lastPost = 0;
  const options: CopyOptions = {
    ...job.options,
    signal,
    // Told at once: if this thread then blocks, the main thread still knows what to remove.
    onTarget: (path) => send({ type: 'target', path }),
    onTempFile: (path) => send({ type: 'temp', path }),
    reporter: {
      progress(done, total) {
        Atomics.store(doneSoFar, 0, BigInt(done));
        if (!job.report) return;
        const now = performance.now();
        if (now - lastPost < PROGRESS_EVERY_MS) return;
        lastPost = now;
        send({ type: 'progress', done, total });
      },
      // Always sent (they are few): a main thread that gives up on a blocked worker reports them.
      fallback: (fallback) => send({ type: 'fallback', fallback }),
      stage: (stage) => send({ type: 'stage', stage }),
      ...(job.report
        ? {
            start: (info) => send({ type: 'start', info }),
            method: (method) => send({ type: 'method', method }),
          }
        : {}),
    },
  };
  try {
    const result = await copy(revive(job.source), revive(job.dest), options);
    send({ type: 'done', result });
  } catch (err) {
    if (err instanceof CopyError) {
      const [source, dest] = err.paths;
      send({
        type: 'failed',
        error: { kind: err.kind, verb: err.verb, source, dest, code: err.code, reason: err.reason, headline: err.headline, result: err.result, bytesCopied: err.bytesCopied, fallbacks: err.fallbacks, bytes: err.bytes },
      });
    } else {
      send({ type: 'crashed', message: String((err as Error)?.stack ?? err) });
    }
  }
}
