/**
 * Which copies may run on the main thread. A system call on a file of a local disk or
 * memory filesystem returns in bounded time; on a FIFO, a device, a socket, or a hung
 * network or FUSE mount it may block for ever, and while the main thread is blocked Node
 * runs no signal handler. So the main thread copies only regular files on the filesystems
 * below, and learns that without a call of its own: every look-up runs on libuv's thread
 * pool, which a hung mount can hold but not this thread. (A local call that does not return,
 * on a frozen filesystem or a hung disk, sleeps uninterruptibly in the kernel: then the
 * process cannot end until it returns, whichever of its threads made it, so a worker would
 * buy nothing there.)
 */
import fs, { type Stats, type StatsFs } from 'node:fs';
import { baseName, dirName, joinPath } from '../copy/paths.js';

/** statfs(2) f_type of local disk and memory filesystems: their files report their true size and their calls do not hang. */
export const LOCAL_FILESYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // XFS
  0x9123683e, // btrfs
  0x01021994, // tmpfs
  0xf2f52010, // f2fs
  0xca451a4e, // bcachefs
]);

/**
 * fs's callback API as promises, run on the thread pool: `fs.promises` is a module of its
 * own that costs ~2 ms to load, a tenth of the quick path's budget.
 */
export const onPool = {
  stat: (path: string) => new Promise<Stats>((resolve, reject) => fs.stat(path, (err, st) => (err ? reject(err) : resolve(st)))),
  lstat: (path: string) => new Promise<Stats>((resolve, reject) => fs.lstat(path, (err, st) => (err ? reject(err) : resolve(st)))),
  statfs: (path: string) => new Promise<StatsFs>((resolve, reject) => fs.statfs(path, (err, st) => (err ? reject(err) : resolve(st)))),
  copyFile: (from: string, to: string, flags: number) => new Promise<void>((resolve, reject) => fs.copyFile(from, to, flags, (err) => (err ? reject(err) : resolve()))),
  chmod: (path: string, mode: number) => new Promise<void>((resolve, reject) => fs.chmod(path, mode, (err) => (err ? reject(err) : resolve()))),
  rename: (from: string, to: string) => new Promise<void>((resolve, reject) => fs.rename(from, to, (err) => (err ? reject(err) : resolve()))),
  /** Removes `path` if it is there; never fails. */
  rm: (path: string) => new Promise<void>((resolve) => fs.rm(path, { force: true }, () => resolve())),
};

/** statfs(2) f_type of FUSE, NFS and SMB mounts: plain files, whose calls may hang. */
export const NETWORK_AND_FUSE_FILESYSTEMS = new Set([
  0x65735546, // FUSE (mergerfs, sshfs...)
  0x6969, // NFS
  0xff534d42, // CIFS
  0xfe534d42, // SMB2
]);

const orNull = <T>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

/** What one round of look-ups on the thread pool tells about SOURCE and DEST. */
export interface Survey {
  source: Stats;
  /** null: DEST does not exist. */
  dest: Stats | null;
  sourceFsType: number;
  /** statfs of DEST (when it exists) and of its parent. */
  destFsType: number | null;
  parentFsType: number | null;
}

/**
 * Every look-up at once, in one round trip to the pool (each round trip costs a thread's
 * wake-up, milliseconds on a busy machine). Null when SOURCE cannot be looked at or DEST's
 * lstat fails other than with ENOENT: the engine meets that again and reports it.
 */
export async function survey(source: string, dest: string): Promise<Survey | null> {
  const parent = dirName(dest) as string;
  const [src, dst, sourceFs, destFs, parentFs] = await Promise.all([
    orNull(onPool.stat(source)),
    onPool.lstat(dest).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : undefined)),
    orNull(onPool.statfs(source)),
    orNull(onPool.statfs(dest)),
    orNull(onPool.statfs(parent)),
  ]);
  if (src === null || sourceFs === null || dst === undefined) return null;
  return { source: src, dest: dst, sourceFsType: sourceFs.type, destFsType: destFs?.type ?? null, parentFsType: parentFs?.type ?? null };
}

/**
 * Whether a copy from SOURCE to DEST makes only calls that return: SOURCE a regular file,
 * DEST missing, a regular file or a directory, all on local filesystems. Paths that are
 * not UTF-8 (Buffers) are left to the worker, as is anything that cannot be looked at.
 */
export async function copyStaysLocal(source: string | Buffer, dest: string | Buffer): Promise<boolean> {
  if (typeof source !== 'string' || typeof dest !== 'string') return false;
  const found = await survey(source, dest);
  if (found === null || !found.source.isFile() || !LOCAL_FILESYSTEMS.has(found.sourceFsType)) return false;
  if (found.dest === null) return found.parentFsType !== null && LOCAL_FILESYSTEMS.has(found.parentFsType);
  if (found.destFsType === null || !LOCAL_FILESYSTEMS.has(found.destFsType)) return false;
  if (found.dest.isFile()) return true;
  if (!found.dest.isDirectory()) return false;
  // The copy goes to DEST/name, which may itself be a FIFO or a device.
  const inside = await onPool.lstat(joinPath(dest, baseName(source)) as string).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : undefined));
  return inside === null || (inside !== undefined && inside.isFile());
}
