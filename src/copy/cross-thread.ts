/**
 * What the engine needs when it runs in a worker thread (the CLI's single copy, the tree's
 * workers): paths and an abort signal that survive the crossing between threads.
 */
import { IN_BUNDLE } from '../sys/bundle.js';
import type { FilePath } from './paths.js';

/**
 * After a signal, how long a copy running off the main thread (a worker, a tree's workers,
 * Node's thread pool) has to stop and clean up before it is given up on: well inside the
 * 0.5 s within which tscp must end.
 */
export const INTERRUPT_GRACE_MS = 250;

/** After giving up on it, how long to wait for the removal of its temporary file (itself possibly on a hung filesystem). */
export const REMOVE_WITHIN_MS = 100;

export { IN_BUNDLE };

/**
 * A file named relative to the module whose `import.meta.url` is `moduleUrl`: a worker's
 * entry, package.json. In the bundle every module is one file in dist/bin/, so the name is
 * taken from there; dist/bin/ and the ES modules' dist/cli/ and dist/tree/ lie equally
 * deep, and each worker entry is bundled under the name it has beside its module.
 */
export function besideModule(relative: string, moduleUrl: string): string | URL {
  return IN_BUNDLE ? `${__dirname}/${relative}` : new URL(relative, moduleUrl);
}

/** A path as it crossed threads (a Buffer arrives as a plain Uint8Array), made a FilePath again. */
export function revivePath(p: string | Uint8Array): FilePath {
  return typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

/**
 * An AbortSignal over a flag in shared memory that another thread sets: the engine reads
 * `signal.aborted` between chunks, so the copy stops within one chunk of the flag being
 * set even while this thread never yields to its event loop.
 */
export function sharedFlagSignal(flag: SharedArrayBuffer): AbortSignal {
  const view = new Int32Array(flag);
  return {
    get aborted() {
      return Atomics.load(view, 0) !== 0;
    },
    reason: 'interrupted',
  } as unknown as AbortSignal;
}

/**
 * `work`'s result, or `otherwise` once `ms` have passed: for calls on another thread that
 * may never return (a hung filesystem), so that a signal still ends the process in time.
 */
export async function withinMs<T>(work: Promise<T>, ms: number, otherwise: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(otherwise), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
