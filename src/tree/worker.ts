/**
 * Entry of a tree-copy worker thread. koffi's native module aborts the whole process
 * (napi_throw, SIGABRT) when several worker threads load it at the same moment: seen in
 * about one run in ten with 4 or more workers. So each worker takes a lock shared by the
 * pool before its first import of anything that loads koffi, and binds libc before letting
 * the next one in. The work itself is in worker-run.ts.
 */
import { workerData } from 'node:worker_threads';

const lock = new Int32Array((workerData as { loadLock: SharedArrayBuffer }).loadLock);
while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 100);
// Not a top-level await: the bundle of this file is CommonJS, which has none.
void import('./worker-run.js')
  .then(({ loadNative }) => loadNative())
  .finally(() => {
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0);
  });
