/**
 * Test helpers for real filesystems: loop-mounted XFS (reflink=1), btrfs, ext4 and small
 * tmpfs mounts, plus independent witnesses of what the kernel did (filefrag for shared
 * extents, st_blocks for holes, sha256 for bytes).
 *
 * Without root the filesystem tests skip with the reason; under CI=true they fail instead,
 * so CI can never go green by skipping.
 */
import { execFileSync, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type FsKind = 'xfs' | 'btrfs' | 'ext4' | 'tmpfs';
export const ALL_FS: FsKind[] = ['xfs', 'btrfs', 'ext4', 'tmpfs'];
/** Filesystems that can share extents. */
export const REFLINK_FS: FsKind[] = ['xfs', 'btrfs'];

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'tscp.js');
const WORK = process.env.TSCP_TEST_DIR ?? '/var/tmp/tscp-test';

const MKFS: Record<Exclude<FsKind, 'tmpfs'>, string[]> = {
  xfs: ['mkfs.xfs', '-q', '-f', '-m', 'reflink=1'],
  btrfs: ['mkfs.btrfs', '-q', '-f'],
  ext4: ['mkfs.ext4', '-q', '-F', '-b', '4096'],
};
const DEFAULT_MIB: Record<FsKind, number> = { xfs: 512, btrfs: 256, ext4: 256, tmpfs: 64 };

/** The part of a tap Test these helpers use (loose, so a real Test fits under strict tsc). */
interface TapLike {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  skip(...args: any[]): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  fail(...args: any[]): unknown;
  teardown(fn: () => void | Promise<void>): unknown;
}

/** Whether `cmd` is on PATH. */
export function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why filesystem tests cannot run here, or null if they can. */
export function cannotMountReason(kind?: FsKind): string | null {
  if (process.getuid?.() !== 0) return 'needs root to loop-mount filesystems';
  if (kind && kind !== 'tmpfs' && !which(MKFS[kind][0]!)) return `${MKFS[kind][0]} is not installed`;
  return null;
}

/**
 * Skip (or, under CI=true, fail) when `reason` is set. Returns true when the test may go on.
 */
export function mayRun(t: TapLike, reason: string | null): boolean {
  if (reason === null) return true;
  if (process.env.CI === 'true') t.fail(`CI=true: cannot skip: ${reason}`);
  else t.skip(reason);
  return false;
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Mount a fresh filesystem of `kind` and return its mount point; unmounted at teardown. */
export function mountFs(t: TapLike, kind: FsKind, sizeMiB = DEFAULT_MIB[kind]): string | null {
  if (!mayRun(t, cannotMountReason(kind))) return null;
  fs.mkdirSync(WORK, { recursive: true });
  const base = fs.mkdtempSync(path.join(WORK, `${kind}-`));
  const dir = path.join(base, 'mnt');
  fs.mkdirSync(dir);
  if (kind === 'tmpfs') {
    sh('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir]);
  } else {
    const image = path.join(base, 'image');
    fs.closeSync(fs.openSync(image, 'w'));
    fs.truncateSync(image, sizeMiB * 1024 * 1024);
    sh(MKFS[kind][0]!, [...MKFS[kind].slice(1), image]);
    sh('mount', ['-o', 'loop', image, dir]);
  }
  t.teardown(() => {
    spawnSync('umount', [dir], { stdio: 'ignore' });
    if (spawnSync('mountpoint', ['-q', dir]).status === 0) spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
    fs.rmSync(base, { recursive: true, force: true });
  });
  return dir;
}

/** Write `size` random bytes to `file`. */
export function writeRandom(file: string, size: number): void {
  const fd = fs.openSync(file, 'w');
  const chunk = 4 * 1024 * 1024;
  for (let off = 0; off < size; off += chunk) {
    fs.writeSync(fd, randomBytes(Math.min(chunk, size - off)));
  }
  fs.closeSync(fd);
}

/**
 * A sparse file of `size` bytes with random data at each [offset, length) in `data`.
 * Everything else is a hole.
 */
export function writeSparse(file: string, size: number, data: [number, number][]): void {
  const fd = fs.openSync(file, 'w');
  for (const [offset, length] of data) {
    for (let off = 0; off < length; off += 4 * 1024 * 1024) {
      fs.writeSync(fd, randomBytes(Math.min(4 * 1024 * 1024, length - off)), 0, undefined, offset + off);
    }
  }
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
}

export function sha256(file: string, start = 0, end?: number): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 * 1024 * 1024);
  let pos = start;
  const stop = end ?? fs.fstatSync(fd).size;
  while (pos < stop) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, stop - pos), pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  fs.closeSync(fd);
  return h.digest('hex');
}

/** Bytes allocated on disk (st_blocks * 512). */
export function allocatedBytes(file: string): number {
  return fs.statSync(file).blocks * 512;
}

/** Bytes of `file` in extents FIEMAP flags as shared, read with filefrag -v (e2fsprogs). */
export function sharedBytes(file: string): number {
  execFileSync('sync', ['-f', file]);
  let out: string;
  try {
    out = execFileSync('filefrag', ['-v', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // tmpfs has no FIEMAP: nothing on it can share extents.
    if (/FIEMAP unsupported/.test(String((err as { stderr?: unknown }).stderr))) return 0;
    throw err;
  }
  const bs = Number(/blocks? of (\d+) bytes/.exec(out)?.[1] ?? /blocksize of (\d+)/.exec(out)?.[1]);
  if (!bs) throw new Error(`cannot read the block size from filefrag:\n${out}`);
  let shared = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):.*?([a-z_,]*)\s*$/.exec(line);
    if (m && m[2]!.split(',').includes('shared')) shared += Number(m[1]) * bs;
  }
  return shared;
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the built bin/tscp.js. */
export function tscp(args: string[], options: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    ...options,
    env: { ...process.env, FORCE_COLOR: '0', ...(options.env ?? {}) },
  });
  return { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A fresh scratch directory on the machine's own filesystem, removed at teardown. */
export function scratchDir(t: TapLike): string {
  fs.mkdirSync(WORK, { recursive: true });
  const dir = fs.mkdtempSync(path.join(WORK, 'scratch-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Prefix of tscp's temporary files (src/copy/copy.ts TEMP_PREFIX), written out so a renamed
 * constant in the source cannot make these tests look for the wrong name. */
export const TEMP_PREFIX = '.tscp-';

/** tscp's temporary files in `dir`. */
export function temps(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith(TEMP_PREFIX));
}

/** Allocated bytes of the biggest temporary file in `dir` (0 if none). */
export function tempAllocated(dir: string): number {
  let most = 0;
  for (const f of temps(dir)) {
    try {
      most = Math.max(most, fs.statSync(path.join(dir, f)).blocks * 512);
    } catch {
      // Renamed or removed between readdir and stat.
    }
  }
  return most;
}

/** Allocated bytes of `file`, 0 if it does not exist. */
export function allocated(file: string): number {
  try {
    return fs.statSync(file).blocks * 512;
  } catch {
    return 0;
  }
}
