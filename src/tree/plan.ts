/**
 * Operands as cp reads them: which SOURCE goes to which path. `tscp -r a b` makes `b`
 * when it does not exist and copies into `b/a` when it is a directory; with several
 * sources (or -t) DEST must be a directory; -T makes DEST the name whatever it is.
 * Uses only asynchronous calls: the main thread never blocks on a slow filesystem.
 */
import { promises as fsp } from 'node:fs';
import { baseName, dirName, joinPath, pathText, quotePath, type FilePath } from '../copy/paths.js';
import { errnoMessage, fromNodeError } from '../sys/index.js';
import { entryStat, type EntryStat } from './entry-stat.js';
import type { TreeError, TreeOptions } from './types.js';
import type { FileStat } from '../sys/index.js';

export interface PlannedOperand {
  source: FilePath;
  dest: FilePath;
  st: EntryStat;
}

/** The operands cannot work at all (cp: "target 'x' is not a directory"): nothing was touched. */
export class OperandError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    readonly path: string,
  ) {
    super(message);
  }
}

async function statOf(p: FilePath, follow: boolean): Promise<FileStat> {
  try {
    const s = follow ? await fsp.stat(p, { bigint: true }) : await fsp.lstat(p, { bigint: true });
    return {
      dev: Number(s.dev),
      ino: Number(s.ino),
      mode: Number(s.mode),
      uid: Number(s.uid),
      gid: Number(s.gid),
      size: s.size,
      blocks: Number(s.blocks),
      blksize: Number(s.blksize),
      isFile: s.isFile(),
      isDirectory: s.isDirectory(),
      isSymbolicLink: s.isSymbolicLink(),
      nlink: Number(s.nlink),
      rdev: Number(s.rdev),
      atimeNs: s.atimeNs,
      mtimeNs: s.mtimeNs,
    };
  } catch (err) {
    throw fromNodeError(err, follow ? 'stat' : 'lstat', pathText(p));
  }
}

function hasTrailingSlash(p: FilePath): boolean {
  const b = Buffer.from(p);
  return b.length > 1 && b[b.length - 1] === 0x2f;
}

async function realpathOf(p: FilePath): Promise<string | null> {
  try {
    return await fsp.realpath(p);
  } catch {
    return null;
  }
}

/** Whether `target` (which may not exist yet) lies inside directory `source`, or is it. */
async function isInside(source: FilePath, target: FilePath): Promise<boolean> {
  const src = await realpathOf(source);
  // The deepest part of target that exists, resolved; the rest is appended as written.
  let existing = target;
  let rest = '';
  let real: string | null = null;
  for (let i = 0; i < 64; i++) {
    real = await realpathOf(existing);
    if (real !== null) break;
    rest = `/${pathText(baseName(existing))}${rest}`;
    const parent = dirName(existing);
    if (pathText(parent) === pathText(existing)) break;
    existing = parent;
  }
  if (src === null || real === null) return false;
  const full = real + rest;
  return full === src || full.startsWith(src.endsWith('/') ? src : `${src}/`);
}

export async function planOperands(
  sources: FilePath[],
  dest: FilePath,
  options: TreeOptions,
): Promise<{ operands: PlannedOperand[]; errors: TreeError[] }> {
  const recursive = options.recursive ?? false;
  const deref = options.dereference ?? (recursive ? 'never' : 'always');
  let destStat: FileStat | null = null;
  try {
    destStat = await statOf(dest, true);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === undefined) throw err;
    if (code !== 'ENOENT') {
      // DEST runs into a file ('file/', 'file/x': ENOTDIR), a loop, a denied directory...:
      // cp's words, one line, before anything is copied.
      const what = options.targetDirectory ? `target directory ${quotePath(dest)}` : `cannot stat ${quotePath(dest)}`;
      throw new OperandError(`${what}: ${errnoMessage(code)} (${code})`, code, pathText(dest));
    }
  }
  let intoDirectory: boolean;
  if (options.noTargetDirectory) {
    intoDirectory = false;
  } else if (options.targetDirectory) {
    if (!destStat?.isDirectory) {
      const code = destStat ? 'ENOTDIR' : 'ENOENT';
      throw new OperandError(`target directory ${quotePath(dest)}: ${errnoMessage(code)} (${code})`, code, pathText(dest));
    }
    intoDirectory = true;
  } else {
    intoDirectory = destStat?.isDirectory ?? false;
    if (!intoDirectory && sources.length > 1) {
      throw new OperandError(`target ${quotePath(dest)} is not a directory`, destStat ? 'ENOTDIR' : 'ENOENT', pathText(dest));
    }
  }

  const operands: PlannedOperand[] = [];
  const errors: TreeError[] = [];
  for (const source of sources) {
    let st: EntryStat;
    try {
      st = entryStat(await statOf(source, deref !== 'never'));
    } catch (err) {
      const e = err as { code: string; message: string };
      errors.push({ path: pathText(source), code: e.code, message: `cannot stat ${quotePath(source)}: ${errnoMessage(e.code)} (${e.code})` });
      continue;
    }
    const target = intoDirectory ? joinPath(dest, baseName(source)) : dest;
    if (st.kind === 'directory') {
      if (!recursive) {
        errors.push({ path: pathText(source), code: null, message: `-r not specified; omitting directory ${quotePath(source)}` });
        continue;
      }
      if (await isInside(source, target)) {
        errors.push({
          path: pathText(source),
          code: null,
          message: `cannot copy a directory, ${quotePath(source)}, into itself, ${quotePath(target)}`,
        });
        continue;
      }
      if (destStat && !destStat.isDirectory && !intoDirectory) {
        errors.push({
          path: pathText(dest),
          code: 'ENOTDIR',
          message: `cannot overwrite non-directory ${quotePath(dest)} with directory ${quotePath(source)}`,
        });
        continue;
      }
    } else if (!intoDirectory && !destStat && hasTrailingSlash(dest)) {
      // "DIR/" names a directory: a file is never written under a name that says directory.
      errors.push({
        path: pathText(dest),
        code: 'ENOTDIR',
        message: `cannot copy ${quotePath(source)} to ${quotePath(dest)}: ${errnoMessage('ENOTDIR')} (ENOTDIR)`,
      });
      continue;
    }
    operands.push({ source, dest: target, st });
  }
  return { operands, errors };
}
