/**
 * The part of an lstat(2) the tree copy needs, in a form that crosses between threads
 * (structured clone) unchanged.
 */
import type { FileStat } from '../sys/index.js';
import type { EntryKind } from './types.js';

export interface EntryStat {
  kind: EntryKind;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  dev: number;
  ino: number;
  rdev: number;
  atimeNs: bigint;
  mtimeNs: bigint;
}

const S_IFMT = 0o170000;
const KINDS: Record<number, EntryKind> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o010000: 'fifo',
  0o020000: 'char',
  0o060000: 'block',
  0o140000: 'socket',
};

export function entryStat(s: FileStat): EntryStat {
  return {
    kind: KINDS[s.mode & S_IFMT] ?? 'file',
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    // For progress totals only: the copy itself takes SOURCE's exact size from fstat.
    size: Number(s.size),
    nlink: s.nlink,
    dev: s.dev,
    ino: s.ino,
    rdev: s.rdev,
    atimeNs: s.atimeNs,
    mtimeNs: s.mtimeNs,
  };
}


/** A directory entry's name: a string when its bytes are UTF-8 (faster), else the bytes. */
export function nameOf(bytes: Buffer): string | Buffer {
  const text = bytes.toString('utf8');
  return Buffer.byteLength(text) === bytes.length && !text.includes('\ufffd') ? text : bytes;
}
