/**
 * A single copy on the main thread, with the interface of CopyThread (copy-thread.ts): for
 * regular files on local filesystems (local-files.ts), whose calls all return. It spares
 * the worker's start-up (a second Node environment that loads the engine and koffi again:
 * ~70 ms of every copy, README, Performance), and the engine yields between calls, so a
 * signal still stops the copy at its next chunk.
 */
import { CopyError } from '../copy/errors.js';
import type { FilePath } from '../copy/paths.js';
import type { Reporter } from '../copy/types.js';
import type { JobOptions } from './copy-messages.js';
import type { ThreadOutcome } from './copy-thread.js';

export class InlineCopy {
  async run(source: FilePath, dest: FilePath, options: JobOptions, reporter: Reporter | undefined, signal: AbortSignal): Promise<ThreadOutcome> {
    const { copy } = await import('../copy/copy.js');
    try {
      return { result: await copy(source, dest, { ...options, signal, reporter }) };
    } catch (err) {
      if (err instanceof CopyError) return { error: err };
      throw err;
    }
  }

  /** Never stuck, so never anything to remove behind its back. */
  async removeTemp(): Promise<void> {}
}
