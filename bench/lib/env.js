/**
 * The benchmark's filesystems: a directory on the machine's own filesystem at /var/tmp
 * (ext4 here), loop-mounted XFS (reflink=1), btrfs and ext4 images, a tmpfs, and read-only loop
 * block devices. Everything lives under one /var/tmp/tscp-bench-PID-XXXXXX directory and is
 * unmounted, detached and removed by cleanup(), which is safe to call more than once and is
 * also run on exit, on SIGINT/SIGTERM/SIGHUP and on an uncaught error. A run killed with
 * SIGKILL leaves its mounts behind; the next run removes those whose PID is gone.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MiB, sh, shQuiet, which } from './util.js';

export const BENCH_PARENT = '/var/tmp';
const PREFIX = 'tscp-bench-';

const MKFS = {
  xfs: ['mkfs.xfs', ['-q', '-f', '-m', 'reflink=1']],
  btrfs: ['mkfs.btrfs', ['-q', '-f']],
  // Inode tables and journal written now: no ext4lazyinit thread writing them during the runs.
  ext4: ['mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0']],
};

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function mountsUnder(dir) {
  const out = [];
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, target, fstype] = line.split(' ');
    if (!target) continue;
    const decoded = target.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (decoded === dir || decoded.startsWith(`${dir}/`)) out.push({ target: decoded, fuse: fstype.startsWith('fuse') });
  }
  // FUSE mounts first (a mergerfs daemon holds its branches on the other mounts busy), then
  // deepest first.
  return out.sort((a, b) => Number(b.fuse) - Number(a.fuse) || b.target.length - a.target.length).map((m) => m.target);
}

/** Loop devices (from losetup) whose backing file lies under `dir`. */
function loopDevicesUnder(dir) {
  const r = spawnSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const devs = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+)\s+(.*?)\s*(\(deleted\))?$/.exec(line.trim());
    if (m && (m[2] === dir || m[2].startsWith(`${dir}/`))) devs.push(m[1]);
  }
  return devs;
}

function unmount(target) {
  if (shQuiet('umount', [target]) === 0) return true;
  // Busy (a process still inside it): detach now, the kernel frees it when released.
  return shQuiet('umount', ['-l', target]) === 0;
}

/** Unmount, detach and remove everything under `dir`. Returns what could not be cleaned. */
export function tearDown(dir) {
  const problems = [];
  for (const m of mountsUnder(dir)) if (!unmount(m)) problems.push(`cannot unmount ${m}`);
  for (const dev of loopDevicesUnder(dir)) if (shQuiet('losetup', ['-d', dev]) !== 0) problems.push(`cannot detach ${dev}`);
  const left = mountsUnder(dir);
  if (left.length === 0) {
    fs.rmSync(dir, { recursive: true, force: true });
  } else {
    problems.push(`still mounted: ${left.join(', ')} (not removing ${dir})`);
  }
  return problems;
}

/** Remove what earlier runs that died (SIGKILL, power loss) left behind. */
export function removeStale() {
  const removed = [];
  let names = [];
  try {
    names = fs.readdirSync(BENCH_PARENT);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const dir = path.join(BENCH_PARENT, name);
    tearDown(dir);
    removed.push(dir);
  }
  return removed;
}

export function cannotMountReason() {
  if (process.platform !== 'linux') return 'Linux only';
  if (process.getuid?.() !== 0) return 'needs root (loop mounts, tmpfs, sync and drop_caches)';
  for (const cmd of ['mkfs.xfs', 'mkfs.btrfs', 'mkfs.ext4', 'losetup', 'mount', 'cmp', 'xfs_io', 'mergerfs']) {
    if (!which(cmd)) return `${cmd} is not installed (xfsprogs, btrfs-progs, e2fsprogs, util-linux, diffutils, mergerfs)`;
  }
  return null;
}

/** Filesystem type of the filesystem holding `p`, as findmnt names it. */
export function fsTypeOf(p) {
  return sh('findmnt', ['-n', '-o', 'FSTYPE', '-T', p]).trim();
}

export class Workspace {
  constructor() {
    removeStale();
    this.base = fs.mkdtempSync(path.join(BENCH_PARENT, `${PREFIX}${process.pid}-`));
    this.cleaned = false;
    this.mounts = {};
    this.heldFds = [];
    const cleanupOnce = () => this.cleanup();
    this.onExit = cleanupOnce;
    process.on('exit', this.onExit);
    this.onSignal = (signal) => {
      this.cleanup();
      const n = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal] ?? 1;
      process.exit(128 + n);
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, this.onSignal);
  }

  /** A plain directory on the machine's own filesystem (the "ext4 at /var/tmp"). */
  hostDir(name) {
    const dir = path.join(this.base, name);
    fs.mkdirSync(dir, { recursive: true });
    this.mounts[name] = { dir, fstype: fsTypeOf(dir) };
    return dir;
  }

  /**
   * A fresh loop-mounted filesystem of `kind` (xfs, btrfs, ext4) on a sparse image, named
   * `name` (default: the kind) in this.mounts and the workspace; `mkfsArgs` are added to
   * mkfs's own.
   */
  loopFs(kind, sizeBytes, { name = kind, mkfsArgs = [] } = {}) {
    const image = path.join(this.base, `${name}.img`);
    const dir = path.join(this.base, name);
    fs.mkdirSync(dir);
    fs.closeSync(fs.openSync(image, 'w'));
    fs.truncateSync(image, sizeBytes);
    const [mkfs, args] = MKFS[kind];
    sh(mkfs, [...args, ...mkfsArgs, image]);
    sh('mount', ['-o', 'loop', image, dir]);
    this.mounts[name] = { dir, fstype: fsTypeOf(dir), image, sizeBytes, ...(mkfsArgs.length ? { mkfsArgs } : {}) };
    return dir;
  }

  tmpfs(sizeBytes) {
    const dir = path.join(this.base, 'tmpfs');
    fs.mkdirSync(dir);
    sh('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(sizeBytes / MiB)}m`, 'tmpfs', dir]);
    this.mounts.tmpfs = { dir, fstype: 'tmpfs', sizeBytes };
    return dir;
  }

  /**
   * A mergerfs (FUSE) mount at `name` over one branch directory (made if missing).
   * minfreespace=0: mergerfs refuses to create files on a branch with less than 4 GiB free
   * by default, more than the bench's images have. cache.files=off: no second copy of the
   * branch's pages in the FUSE mount's page cache (the mergerfs man page's advice where
   * mmap is not needed). copy_file_range passes through to the branch with any of its cache
   * modes (measured with 2.33.5: DEST's extents end up shared with SOURCE's on XFS).
   */
  mergerfs(name, branch) {
    if (!which('mergerfs')) throw new Error('mergerfs is not installed (apt-get install mergerfs)');
    const dir = path.join(this.base, name);
    fs.mkdirSync(dir);
    fs.mkdirSync(branch, { recursive: true });
    const options = 'cache.files=off,category.create=mfs,minfreespace=0';
    sh('mergerfs', ['-o', options, branch, dir]);
    this.mounts[name] = { dir, fstype: fsTypeOf(dir), branch, options };
    return dir;
  }

  /** A read-only loop block device over `file` (a SOURCE that tscp can only stream). */
  blockDevice(file) {
    const dev = sh('losetup', ['--find', '--show', '--read-only', file]).trim();
    // Held open until cleanup: the kernel drops a block device's page cache when its last
    // opener closes it, so without this every run would read the device cold.
    this.heldFds.push(fs.openSync(dev, 'r'));
    this.mounts.blockdev = { dev, file };
    return dev;
  }

  /** Unmount and remove everything; idempotent. Returns a list of problems (empty when clean). */
  cleanup() {
    if (this.cleaned) return [];
    this.cleaned = true;
    process.off('exit', this.onExit);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(s, this.onSignal);
    for (const fd of this.heldFds.splice(0)) {
      try {
        fs.closeSync(fd);
      } catch {
        // Already closed.
      }
    }
    const problems = tearDown(this.base);
    for (const p of problems) process.stderr.write(`bench: cleanup: ${p}\n`);
    return problems;
  }
}
