/**
 * koffi's native module registers an exit handler (FlushStd, in its base library) that
 * calls fsync(2) on standard output and standard error when the process exits (or the
 * module is unloaded), whatever they are. On a pipe, a terminal or /dev/null that fails at
 * once (EINVAL). On a regular file (`tscp a b >log 2>&1`, a cron job's log) it is a real
 * flush, and on ext4 (data=ordered) flushing any file commits the journal, which waits for
 * the data of every file written since, the copy's DEST included: a 1 GiB `--inplace` copy
 * run with its output in a file took 1.40 s against cp's 0.72 s, 0.49 s of it in that
 * fsync(1) at exit (strace -T), where cp never waits for the disk.
 *
 * The handler cannot be removed. Where either descriptor is such a file, the run loads koffi
 * on the main thread before any worker starts: a worker's koffi is unloaded when the worker
 * ends (dlclose), and the handler runs right then, with both descriptors still the files,
 * unless another thread holds the module too. At exit, once every word of the run is
 * written (Node writes to files and pipes synchronously), the descriptors the handler would
 * flush are pointed at /dev/null. The caller's open file (the log) is not touched, and
 * neither is anything already written to it.
 */
import fs from 'node:fs';
import { libc } from './libc.js';

/** Standard output and standard error, the two koffi flushes. */
const FLUSHED_AT_EXIT = [1, 2] as const;

/** Which of stdout and stderr koffi's handler would flush for real: regular files and block devices. */
function flushableStdio(): number[] {
  return FLUSHED_AT_EXIT.filter((fd) => {
    try {
      const st = fs.fstatSync(fd);
      return st.isFile() || st.isBlockDevice();
    } catch {
      return false; // closed: nothing to flush
    }
  });
}

/**
 * Where stdout or stderr is a file, load koffi on this thread, so that no worker's exit
 * unloads it (and flushes them) while this thread runs: the library calls it as it starts
 * a tree's workers, for a program that copies trees with its output in a log. Returns the
 * descriptors that are files; loads nothing when there are none, or when koffi is missing
 * (no handler then; the copy reports why it cannot run).
 */
export function holdKoffiWhileStdioIsFile(): number[] {
  const files = flushableStdio();
  if (files.length === 0) return [];
  try {
    libc();
  } catch {
    return [];
  }
  return files;
}

/**
 * For a process that exits when its run is done (the tscp command), called on the main
 * thread before the run starts a worker: holdKoffiWhileStdioIsFile(), and what to call as
 * the process exits, after its last write. That points the files at /dev/null (anything
 * written to them later is lost) and returns them. Null when neither is a file.
 */
export function spareStdioFromExitSync(): (() => number[]) | null {
  const files = holdKoffiWhileStdioIsFile();
  if (files.length === 0) return null;
  return () => {
    const devNull = fs.openSync('/dev/null', 'w');
    try {
      return files.filter((fd) => libc().dup2(devNull, fd) === fd);
    } finally {
      fs.closeSync(devNull);
    }
  };
}
