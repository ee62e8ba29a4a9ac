/**
 * copy(): one SOURCE to one DEST. It resolves DEST, opens SOURCE, refuses a copy onto
 * itself, and hands the work to the operation that fits: a whole file (whole.ts), a byte
 * range (range-copy.ts) or a dedupe (dedupe.ts). The byte moving itself, with its fallback
 * chain, is in transfer.ts.
 */
import { constants as fsConstants } from 'node:fs';
import { SysError, isErrno, linuxSys, type FileStat, type Sys } from '../sys/index.js';
import { dedupeFile } from './dedupe.js';
import { CopyError } from './errors.js';
import { closeQuietly, fail, invalid, type Job } from './job.js';
import { baseName, joinPath, quotePath, type FilePath } from './paths.js';
import { copyRange } from './range-copy.js';
import { noClobberError } from './target.js';
import type { CopyOptions, CopyResult } from './types.js';
import { copyWhole } from './whole.js';

export { TEMP_PREFIX } from './target.js';
export { DEDUPE_CHUNK_BYTES, DEDUPE_COMPARE_BYTES, DEDUPE_PIECE_BYTES, DIFFERING_RANGES_KEPT } from './dedupe.js';

const { O_RDONLY, O_NOCTTY } = fsConstants;

/**
 * Copy SOURCE to DEST (a file, or a directory to copy into), whole or by range, by the
 * fastest means the filesystems allow. Resolves with what was done; rejects with a
 * CopyError saying what failed and how many bytes reached DEST first.
 */
export async function copy(source: FilePath, dest: FilePath, options: CopyOptions = {}): Promise<CopyResult> {
  const sys = options.sys ?? linuxSys;
  const mode = options.mode ?? 'auto';
  const job: Job = { sys, source, target: options.noTargetDirectory || options.destAbsent ? dest : resolveTarget(sys, source, dest), mode, options, started: performance.now() };
  const isRange = options.srcOffset !== undefined || options.dstOffset !== undefined || options.length !== undefined;
  options.onTarget?.(job.target);
  // A range or a dedupe needs a regular SOURCE, and opening a FIFO waits for a writer that
  // may never come: refuse it before opening. (The check after opening stays for a SOURCE
  // replaced in between.)
  if (isRange || mode === 'dedupe') refuseStream(job);

  let srcFd: number;
  try {
    srcFd = sys.open(source, O_RDONLY | O_NOCTTY);
  } catch (err) {
    throw sourceFailure(job, err);
  }
  try {
    const src = sys.fstat(srcFd);
    if (src.isDirectory) throw fail(job, new SysError(21 /* EISDIR */, 'open'));
    if (endsWithSlash(dest) && job.target === dest && !options.destAbsent) {
      // "DEST/" promises a directory; one that is not must fail now, before any byte is
      // copied, not at the final rename (ENOTDIR after the whole file), as cp does.
      throw new CopyError({ kind: 'system', verb: 'copy', source, dest, code: 'ENOTDIR', headline: `cannot create regular file ${quotePath(dest)}` });
    }
    const existing = options.destAbsent ? null : statTarget(job);
    if (existing && options.noClobber && mode !== 'dedupe') throw noClobberError(job);
    const sameFile = existing !== null && existing.dev === src.dev && existing.ino === src.ino;
    if (sameFile && !isRange) {
      throw new CopyError({ kind: 'same-file', verb: 'copy', source, dest: job.target });
    }
    if (mode === 'dedupe') return await dedupeFile(job, srcFd, src, existing, sameFile, isRange);
    if (isRange) return await copyRange(job, srcFd, src, existing, sameFile);
    return await copyWhole(job, srcFd, src, existing);
  } finally {
    closeQuietly(sys, srcFd);
  }
}

/**
 * SOURCE could not be opened: name it alone, as cp does ("cannot stat 'nosuch'"), so a
 * missing SOURCE does not read like a missing DEST directory.
 */
function sourceFailure(job: Job, err: unknown): CopyError {
  if (!(err instanceof SysError)) return fail(job, err);
  const missing = ['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG'].includes(err.code);
  const headline = missing ? `cannot stat ${quotePath(job.source)}` : `cannot open ${quotePath(job.source)} for reading`;
  return new CopyError({ kind: 'system', verb: 'copy', source: job.source, dest: job.target, code: err.code, cause: err, headline });
}

function endsWithSlash(p: FilePath): boolean {
  return typeof p === 'string' ? p.endsWith('/') : p.length > 0 && p[p.length - 1] === 0x2f;
}

/** SOURCE is a FIFO, socket or device (stat follows symlinks): EINVAL, as after opening it. */
function refuseStream(job: Job): void {
  let st: FileStat;
  try {
    st = job.sys.stat(job.source);
  } catch {
    return; // Missing or unreadable: open() says why, as for any copy.
  }
  if (st.isFile || st.isDirectory) return;
  if (job.mode === 'dedupe') throw invalid(job, 'dedupe needs two regular files', 'dedupe');
  throw invalid(job, 'a byte range needs SOURCE to be a regular file', job.mode === 'always' ? 'reflink' : 'copy');
}

/** DEST, or DEST/basename(SOURCE) when DEST names a directory, as cp does. */
function resolveTarget(sys: Sys, source: FilePath, dest: FilePath): FilePath {
  try {
    if (sys.stat(dest).isDirectory) return joinPath(dest, baseName(source));
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
  }
  return dest;
}

/** DEST's stat (following symlinks), or null if it does not exist yet. */
function statTarget(job: Job): FileStat | null {
  try {
    return job.sys.stat(job.target);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw fail(job, err);
  }
  // Missing: but a dangling symlink at DEST would make us create a file somewhere else.
  let link: FileStat;
  try {
    link = job.sys.stat(job.target, false);
  } catch {
    return null;
  }
  if (link.isSymbolicLink) {
    throw new CopyError({
      kind: 'system',
      verb: 'copy',
      source: job.source,
      dest: job.target,
      code: 'ENOENT',
      reason: 'not writing through dangling symlink',
    });
  }
  return null;
}

