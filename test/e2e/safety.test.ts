/**
 * "SOURCE is never modified, an existing DEST keeps its old content unless the copy
 * completes, and no partial file ever stands under DEST's name."
 *
 * End to end with the real binary, on loop-mounted ext4 and btrfs and on tmpfs:
 *
 *   atomic        a whole-file copy goes to `.tscp-<hex>-NAME` beside DEST and is renamed
 *                 over it; an existing DEST keeps its mode and owner, a new one gets
 *                 SOURCE's mode & ~umask; a symlink at DEST is written through; --inplace
 *                 keeps the inode and hard links; a device or FIFO at DEST is never replaced
 *                 by a file; a private SOURCE is never readable by others, watched from
 *                 outside during a slow copy
 *   faults        ENOSPC, EROFS, EFBIG, EDQUOT, EACCES, EPERM (chattr +a/+i), an active
 *                 swap file, a SOURCE that grows or shrinks mid-copy: exit 1, one line
 *                 naming the paths and the errno, DEST and SOURCE unchanged, no temp file
 *   bad input     missing or directory SOURCE, missing parent, same file, overlapping or
 *                 out-of-range ranges, awkward file names (spaces, newlines, leading dash,
 *                 bytes that are not UTF-8)
 *   security      no child processes, no writes but DEST and the temp file, the temp file
 *                 opened O_EXCL|O_NOFOLLOW (strace), a symlink planted at the temp name never
 *                 followed, DEST never created more permissive than SOURCE
 *
 * EDQUOT comes from a btrfs qgroup limit: this kernel has no XFS or ext4 quota support
 * (CONFIG_XFS_QUOTA and CONFIG_QFMT_V2 unset), and qgroups bind root too.
 *
 * Slow copies are observed deterministically: the test polls until the copy is under way,
 * stops tscp with SIGSTOP, looks (or changes SOURCE), then lets it go on with SIGCONT.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, mayRun, mountFs, scratchDir, sha256, tscp, writeRandom, writeSparse, type RunResult, TEMP_PREFIX, allocated, tempAllocated, temps } from '../helpers/fs.js';

const K = 1024;
const M = 1024 * K;
const NOBODY = 65534;
/** Size of the SOURCE of the slow copies watched from outside. */
const SLOW = 512 * M;
/** A slow copy counts as under way once its output has this much allocated. */
const UNDER_WAY = 16 * M;

// ---------------------------------------------------------------------------------------
// Running tscp

/** The environment without tap's coverage variables, for wrapped runs. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  for (const k of Object.keys(env)) {
    if (k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_')) delete env[k];
  }
  return env;
}

/**
 * node running tscp, through env(1): tap's processinfo hook puts its loader into the
 * NODE_OPTIONS of every child it sees spawned (even with an explicit env), and that loader
 * writes into .tap/ at exit, which a process running as 65534, under strace's eye or under
 * RLIMIT_FSIZE must not do. env -u removes it; env execs node in the same process.
 */
function nodeCmd(args: string[], env: Record<string, string> = {}): string[] {
  return ['env', '-u', 'NODE_OPTIONS', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, BIN, ...args];
}

interface Wrap {
  /** Run under this umask (through sh). */
  umask?: number;
  /** Run as uid/gid NOBODY with no supplementary groups (setpriv). */
  nobody?: boolean;
  /** RLIMIT_FSIZE in bytes (prlimit). */
  fsize?: number;
  env?: Record<string, string>;
}

/** Run bin/tscp.js under the given wrappers, without tap's hooks. */
function tscpWrapped(args: string[], w: Wrap): RunResult {
  let cmd = nodeCmd(args, w.env);
  if (w.umask !== undefined) cmd = ['sh', '-c', `umask ${w.umask.toString(8).padStart(3, '0')}; exec "$@"`, 'sh', ...cmd];
  if (w.nobody) cmd = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...cmd];
  if (w.fsize !== undefined) cmd = ['prlimit', `--fsize=${w.fsize}`, '--', ...cmd];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 300_000, env: cleanEnv() });
  return { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Run a shell script that runs tscp itself ("$TSCP" ...), for arguments only a shell can make. */
function tscpShell(script: string, args: string[]): RunResult {
  const r = spawnSync('sh', ['-c', `unset NODE_OPTIONS; ${script}`, 'sh', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...cleanEnv(), TSCP_NODE: process.execPath, TSCP_BIN: BIN },
  });
  return { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

interface Done {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  child: ChildProcess;
  done: Promise<Done>;
  exited(): boolean;
}

/** Spawn bin/tscp.js asynchronously; killed at teardown if still alive. */
function start(t: Test, args: string[]): Running {
  const [cmd, ...rest] = nodeCmd(args);
  const child = spawn(cmd!, rest, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited = false;
  const done = new Promise<Done>((resolve) => {
    child.on('exit', (status, signal) => {
      exited = true;
      child.on('close', () => resolve({ status, signal, stdout, stderr }));
    });
  });
  t.teardown(() => {
    if (!exited) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  return { child, done, exited: () => exited };
}

/** Wait for a running tscp, or give up after `ms` (a hang): then it is killed and null returned. */
async function finish(run: Running, ms = 120_000): Promise<Done | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  const r = await Promise.race([run.done, timeout]);
  clearTimeout(timer);
  if (r === null) {
    run.child.kill('SIGCONT');
    run.child.kill('SIGKILL');
  }
  return r;
}

/** Poll `pred` every 2 ms until it is true (true) or `timeoutMs` passes (false). */
async function waitFor(pred: () => boolean, timeoutMs = 120_000): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return pred();
}

// ---------------------------------------------------------------------------------------
// Witnesses


function noTemps(t: Test, dir: string, what: string): void {
  t.same(temps(dir), [], `${what}: no temporary file left`);
}


interface Snapshot {
  sha: string;
  size: number;
  ino: bigint;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** Everything about a file that a copy must not change: bytes, inode, mode, owner, times. */
function snapshot(file: string): Snapshot {
  const st = fs.statSync(file, { bigint: true });
  return {
    sha: sha256(file),
    size: Number(st.size),
    ino: st.ino,
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    nlink: Number(st.nlink),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
  };
}

function unchanged(t: Test, file: string, before: Snapshot, what: string): void {
  t.same(snapshot(file), before, `${what}: bytes, inode, mode, owner and times unchanged`);
}

function bufSha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function ok(t: Test, r: RunResult, what: string): void {
  t.equal(r.status, 0, `${what}: exit 0${r.status === 0 ? '' : ` (stderr: ${r.stderr.trim()})`}`);
}

/**
 * A failed copy: exit 1 and exactly one line, `tscp: cannot copy 'SRC' to 'DST': ... (CODE)`,
 * optionally followed by ` after N bytes`. Returns N (0 when not reported).
 */
function failed(t: Test, r: RunResult, codes: string | string[], src: string, dst: string, what: string): number {
  const list = Array.isArray(codes) ? codes : [codes];
  t.equal(r.status, 1, `${what}: exit 1`);
  const re = new RegExp(
    `^tscp: cannot (?:copy|reflink) '${escapeRe(src)}' to '${escapeRe(dst)}': [^\\n]+ \\((${list.join('|')})\\)(?: after (\\d+) bytes)?\\n$`,
  );
  t.match(r.stderr, re, `${what}: one line naming both paths and ${list.join(' or ')}: ${JSON.stringify(r.stderr)}`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
  return Number(re.exec(r.stderr)?.[2] ?? 0);
}

/** A file of `size` bytes: 4 MiB of random data repeated, each 4 MiB stamped with its index. */
function writeStamped(file: string, size: number): void {
  const block = randomBytes(4 * M);
  const fd = fs.openSync(file, 'w');
  for (let off = 0, i = 0; off < size; off += block.length, i++) {
    block.writeUInt32LE(i, 0);
    fs.writeSync(fd, block, 0, Math.min(block.length, size - off));
  }
  fs.closeSync(fd);
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function sh(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

// ---------------------------------------------------------------------------------------
// Filesystems: mounted once, lazily; each case works in a fresh directory.

const mounts = new Map<string, string>();

/** A mount of `kind` (one per key), or null after a skip/fail. */
function mount(tt: Test, key: 'ext4' | 'mem' | 'tiny', kind: 'ext4' | 'tmpfs', mib: number): string | null {
  let mnt = mounts.get(key);
  if (mnt === undefined) {
    const m = mountFs(t, kind, mib);
    if (m === null) {
      tt.fail(`could not mount ${kind}`);
      return null;
    }
    // mountFs's directories are 0700; let NOBODY reach into them.
    fs.chmodSync(path.dirname(m), 0o755);
    fs.chmodSync(m, 0o755);
    mounts.set(key, m);
    mnt = m;
  }
  return mnt;
}

/** A fresh directory (mode 0755) on ext4, on a 1.2 GiB tmpfs (`mem`) or on a 16 MiB tmpfs (`tiny`). */
function caseDir(tt: Test, where: 'ext4' | 'mem' | 'tiny', label = 'case'): string | null {
  if (!mayRun(tt, process.getuid?.() === 0 ? null : 'needs root')) return null;
  const mnt =
    where === 'ext4' ? mount(tt, 'ext4', 'ext4', 1024) : where === 'mem' ? mount(tt, 'mem', 'tmpfs', 1200) : mount(tt, 'tiny', 'tmpfs', 16);
  if (mnt === null) return null;
  const dir = fs.mkdtempSync(path.join(mnt, `${label}-`));
  fs.chmodSync(dir, 0o755);
  tt.teardown(() => cleanup(dir));
  return dir;
}

/**
 * Remove a case directory whatever a test left in it (teardowns may run in any order):
 * swap files still active, bind mounts, chattr +a/+i flags.
 */
function cleanup(dir: string): void {
  const inside = (p: string) => p === dir || p.startsWith(`${dir}/`);
  for (const line of fs.readFileSync('/proc/swaps', 'utf8').split('\n').slice(1)) {
    const file = line.split(/\s+/)[0];
    if (file && inside(file)) spawnSync('swapoff', [file], { stdio: 'ignore' });
  }
  const mounted = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m !== dir && inside(m));
  for (const m of mounted.reverse()) {
    if (spawnSync('umount', [m], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    spawnSync('chattr', ['-R', '-a', '-i', dir], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// =======================================================================================
// 1. Whole-file copies are atomic

t.test('whole-file copies: temp file renamed over DEST, modes and owners', async (t) => {
  t.test('an existing DEST (owner 65534, mode 0640) is replaced, keeping its owner and mode', async (t) => {
    const dir = caseDir(t, 'ext4', 'owner');
    if (!dir) return;
    const src = path.join(dir, 'src');
    const dest = path.join(dir, 'dest');
    writeRandom(src, 3 * M + 5);
    fs.chmodSync(src, 0o644);
    writeRandom(dest, M);
    fs.chownSync(dest, NOBODY, NOBODY);
    fs.chmodSync(dest, 0o640);
    const srcBefore = snapshot(src);
    const oldIno = fs.statSync(dest).ino;
    const r = tscp([src, dest]);
    ok(t, r, 'copy');
    const st = fs.statSync(dest);
    t.equal(sha256(dest), srcBefore.sha, 'DEST has SOURCE\'s bytes');
    t.equal(st.mode & 0o7777, 0o640, 'DEST keeps mode 0640');
    t.equal(st.uid, NOBODY, 'DEST keeps owner 65534');
    t.equal(st.gid, NOBODY, 'DEST keeps group 65534');
    t.not(st.ino, oldIno, 'DEST is a new inode: the temporary file was renamed over it');
    noTemps(t, dir, 'after the copy');
    unchanged(t, src, srcBefore, 'SOURCE');
  });

  t.test('a new DEST gets SOURCE\'s mode filtered by the umask', async (t) => {
    const dir = caseDir(t, 'ext4', 'umask');
    if (!dir) return;
    const cases: [number, number, number][] = [
      [0o644, 0o027, 0o640],
      [0o755, 0o022, 0o755],
      [0o600, 0o000, 0o600],
      [0o666, 0o077, 0o600],
    ];
    for (const [mode, umask, want] of cases) {
      const src = path.join(dir, `src-${mode.toString(8)}-${umask.toString(8)}`);
      const dest = `${src}.copy`;
      writeRandom(src, 64 * K);
      fs.chmodSync(src, mode);
      const r = tscpWrapped([src, dest], { umask });
      const what = `SOURCE ${mode.toString(8)}, umask ${umask.toString(8).padStart(3, '0')}`;
      ok(t, r, what);
      t.equal(fs.statSync(dest).mode & 0o7777, want, `${what}: DEST is ${want.toString(8)}`);
      t.equal(sha256(dest), sha256(src), `${what}: bytes equal`);
    }
    noTemps(t, dir, 'after the copies');
  });

  t.test('DEST a symlink to a file elsewhere: the file is replaced, the link stays a link', async (t) => {
    const dir = caseDir(t, 'ext4', 'symlink');
    if (!dir) return;
    const other = path.join(dir, 'other');
    fs.mkdirSync(other);
    const src = path.join(dir, 'src');
    const target = path.join(other, 'target');
    const link = path.join(dir, 'link');
    writeRandom(src, 2 * M + 1);
    writeRandom(target, 10 * K);
    fs.chownSync(target, NOBODY, NOBODY);
    fs.chmodSync(target, 0o604);
    fs.symlinkSync('other/target', link);
    const srcBefore = snapshot(src);
    const r = tscp([src, link]);
    ok(t, r, 'copy through the link');
    t.ok(fs.lstatSync(link).isSymbolicLink(), 'DEST is still a symlink');
    t.equal(fs.readlinkSync(link), 'other/target', 'pointing where it did');
    t.equal(sha256(target), srcBefore.sha, 'the file it points to has SOURCE\'s bytes');
    const st = fs.statSync(target);
    t.equal(st.mode & 0o7777, 0o604, 'the target keeps its mode');
    t.equal(st.uid, NOBODY, 'the target keeps its owner');
    t.same(fs.readdirSync(dir).sort(), ['link', 'other', 'src'], 'nothing new beside the link');
    t.same(fs.readdirSync(other), ['target'], 'nothing new beside the target (temp file renamed)');
    unchanged(t, src, srcBefore, 'SOURCE');
  });

  t.test('DEST a dangling symlink: refused, nothing created at its target', async (t) => {
    const dir = caseDir(t, 'ext4', 'dangling');
    if (!dir) return;
    const src = path.join(dir, 'src');
    const link = path.join(dir, 'link');
    writeRandom(src, 4 * K);
    fs.symlinkSync('nowhere', link);
    const r = tscp([src, link]);
    failed(t, r, 'ENOENT', src, link, 'dangling symlink');
    t.notOk(fs.existsSync(path.join(dir, 'nowhere')), 'the link\'s target was not created');
    t.equal(fs.readlinkSync(link), 'nowhere', 'the link is as it was');
    noTemps(t, dir, 'dangling symlink');
  });

  t.test('DEST a character device or a FIFO: written into (as cp does) or refused, never replaced by a file', async (t) => {
    const dir = caseDir(t, 'ext4', 'special');
    if (!dir) return;
    const src = path.join(dir, 'src');
    writeRandom(src, 10 * K);
    // A null device node of our own (major 1, minor 3), never the system's /dev/null.
    const dev = path.join(dir, 'nulldev');
    const mk = sh('mknod', [dev, 'c', '1', '3']);
    if (mk.status !== 0) {
      t.fail(`mknod: ${mk.out}`);
      return;
    }
    const devBefore = fs.statSync(dev);
    const r1 = tscp([src, dev]);
    const devAfter = fs.lstatSync(dev);
    t.comment(`onto a character device: exit ${r1.status} ${r1.stderr.trim()}; now ${devAfter.isCharacterDevice() ? 'a character device' : devAfter.isFile() ? 'a regular file' : 'something else'}`);
    t.ok(r1.status === 0 || r1.status === 1, `exit 0 or 1 (${r1.status})`);
    t.ok(devAfter.isCharacterDevice(), 'DEST is still a character device');
    t.equal(devAfter.ino, devBefore.ino, 'same inode');
    t.equal(devAfter.rdev, devBefore.rdev, 'same device number');

    // A FIFO with a reader waiting: if tscp writes into it, the reader gets SOURCE's bytes.
    const fifo = path.join(dir, 'fifo');
    const got = path.join(dir, 'from-fifo');
    spawnSync('mkfifo', [fifo]);
    const fifoIno = fs.statSync(fifo).ino;
    const reader = spawn('sh', ['-c', 'exec cat "$1" > "$2"', 'sh', fifo, got], { stdio: 'ignore' });
    t.teardown(() => void reader.kill('SIGKILL'));
    const r2 = tscp([src, fifo], { timeout: 30_000 });
    const fifoAfter = fs.lstatSync(fifo);
    t.comment(`onto a FIFO: exit ${r2.status} ${r2.signal ?? ''} ${r2.stderr.trim()}; now ${fifoAfter.isFIFO() ? 'a FIFO' : fifoAfter.isFile() ? 'a regular file' : 'something else'}`);
    t.ok(fifoAfter.isFIFO(), 'DEST is still a FIFO');
    t.equal(fifoAfter.ino, fifoIno, 'same inode');
    if (r2.status === 0 && fifoAfter.isFIFO()) {
      const exited = await waitFor(() => reader.exitCode !== null, 10_000);
      t.ok(exited && fs.readFileSync(got).equals(fs.readFileSync(src)), 'the reader received SOURCE\'s bytes');
    }
    noTemps(t, dir, 'special DEST');
  });

  t.test('--inplace keeps DEST\'s inode, hard links, mode and owner', async (t) => {
    const dir = caseDir(t, 'ext4', 'inplace');
    if (!dir) return;
    const src = path.join(dir, 'src');
    const dest = path.join(dir, 'dest');
    const link = path.join(dir, 'hardlink');
    writeRandom(src, M + 77);
    writeRandom(dest, 3 * M); // longer than SOURCE: must end exactly SOURCE's size
    fs.chownSync(dest, NOBODY, NOBODY);
    fs.chmodSync(dest, 0o640);
    fs.linkSync(dest, link);
    const ino = fs.statSync(dest).ino;
    const srcBefore = snapshot(src);
    const r = tscp(['--inplace', src, dest]);
    ok(t, r, '--inplace');
    const st = fs.statSync(dest);
    t.equal(st.ino, ino, 'same inode');
    t.equal(st.nlink, 2, 'still two links');
    t.equal(fs.statSync(link).ino, ino, 'the hard link is the same inode');
    t.equal(sha256(link), srcBefore.sha, 'the hard link sees the new content');
    t.equal(st.size, srcBefore.size, 'DEST is exactly SOURCE\'s size');
    t.equal(st.mode & 0o7777, 0o640, 'mode kept');
    t.equal(st.uid, NOBODY, 'owner kept');
    noTemps(t, dir, '--inplace');
    unchanged(t, src, srcBefore, 'SOURCE');
  });
});

// =======================================================================================
// 2. Watching a slow copy from outside

/**
 * Copy a private (0600) SOURCE of SLOW bytes from tmpfs to ext4, polling DEST's directory
 * all along; once the copy is under way tscp is stopped, inspected and resumed.
 */
async function watchPrivateCopy(t: Test, existing: boolean): Promise<void> {
  const mem = caseDir(t, 'mem', 'private-src');
  const dir = caseDir(t, 'ext4', 'private');
  if (!mem || !dir) return;
  const src = path.join(mem, 'private');
  writeStamped(src, SLOW);
  fs.chmodSync(src, 0o600);
  const srcBefore = snapshot(src);
  const dest = path.join(dir, 'dest');
  let old: Snapshot | null = null;
  if (existing) {
    writeRandom(dest, M);
    fs.chmodSync(dest, 0o600);
    old = snapshot(dest);
  }
  const modesSeen = new Set<string>();
  const problems: string[] = [];
  let observations = 0;
  const look = () => {
    observations++;
    for (const f of fs.readdirSync(dir)) {
      let st: fs.Stats;
      try {
        st = fs.statSync(path.join(dir, f));
      } catch {
        continue;
      }
      if (f.startsWith(TEMP_PREFIX)) {
        modesSeen.add((st.mode & 0o7777).toString(8));
        if (st.mode & 0o077) problems.push(`${f} mode ${(st.mode & 0o7777).toString(8)}`);
        if (st.uid !== 0) problems.push(`${f} owner ${st.uid}`);
      } else if (f === 'dest') {
        // Under DEST's name: the old file, or the complete copy, nothing in between.
        const isOld = old !== null && BigInt(st.ino) === old.ino && st.size === old.size;
        const isComplete = st.size === SLOW && (st.mode & 0o7777) === 0o600;
        if (!isOld && !isComplete) problems.push(`dest: size ${st.size}, mode ${(st.mode & 0o7777).toString(8)}, ino ${st.ino}`);
        if (st.mode & 0o077) problems.push(`dest mode ${(st.mode & 0o7777).toString(8)}`);
      } else {
        problems.push(`unexpected file ${f}`);
      }
    }
  };
  const run = start(t, [src, dest]);
  const underWay = await waitFor(() => {
    look();
    return run.exited() || tempAllocated(dir) > UNDER_WAY;
  });
  t.ok(underWay, 'the copy got under way');
  run.child.kill('SIGSTOP');
  const [temp] = temps(dir);
  t.ok(temp !== undefined && !run.exited(), `stopped mid-copy with a temporary file: ${temp}`);
  if (temp !== undefined) {
    const st = fs.statSync(path.join(dir, temp));
    t.equal(st.mode & 0o7777, 0o600, 'the temporary file is 0600 while in progress');
    t.ok(st.size <= SLOW, 'the temporary file is no bigger than SOURCE');
    if (existing) t.same(snapshot(dest), old, 'DEST is still the old file while the copy is in progress');
    else t.notOk(fs.existsSync(dest), 'no file under DEST\'s name while the copy is in progress');
  }
  run.child.kill('SIGCONT');
  const done = finish(run);
  let finished = false;
  void done.then(() => (finished = true));
  await waitFor(() => {
    look();
    return finished;
  });
  const r = await done;
  t.ok(r, 'tscp finished');
  if (!r) return;
  t.equal(r.status, 0, `exit 0 ${r.stderr.trim()}`);
  look();
  t.same(problems, [], `${observations} observations: temp files never readable by others, DEST only ever old or complete`);
  t.same([...modesSeen], ['600'], `temporary file modes seen: ${[...modesSeen].join(', ')}`);
  t.equal(fs.statSync(dest).mode & 0o7777, 0o600, 'DEST is 0600');
  t.equal(sha256(dest), srcBefore.sha, 'DEST has SOURCE\'s bytes');
  noTemps(t, dir, 'after the copy');
  unchanged(t, src, srcBefore, 'SOURCE');
}

t.test('a private SOURCE is never readable by others, watched during a slow copy', async (t) => {
  t.test('new DEST', async (t) => watchPrivateCopy(t, false));
  t.test('existing DEST', async (t) => watchPrivateCopy(t, true));
});

// =======================================================================================
// 3. Faults mid-copy

t.test('ENOSPC on a 16 MiB tmpfs', async (t) => {
  const from = caseDir(t, 'ext4', 'enospc-src');
  const dir = caseDir(t, 'tiny', 'enospc');
  if (!from || !dir) return;
  const src = path.join(from, 'src');
  writeRandom(src, 32 * M);
  const srcBefore = snapshot(src);

  const dest = path.join(dir, 'dest');
  writeRandom(dest, M);
  const before = snapshot(dest);
  const n = failed(t, tscp([src, dest]), 'ENOSPC', src, dest, 'whole file over an existing DEST');
  t.ok(n > 0 && n < 32 * M, `says how many bytes were copied (${n})`);
  unchanged(t, dest, before, 'existing DEST');
  noTemps(t, dir, 'existing DEST');

  const fresh = path.join(dir, 'fresh');
  failed(t, tscp([src, fresh]), 'ENOSPC', src, fresh, 'whole file to a new DEST');
  t.notOk(fs.existsSync(fresh), 'no DEST created');
  noTemps(t, dir, 'new DEST');
  t.same(fs.readdirSync(dir), ['dest'], 'nothing else in the directory');
  unchanged(t, src, srcBefore, 'SOURCE');

  // A range into an existing file on a full filesystem: exactly the reported bytes land.
  const rdest = path.join(dir, 'range');
  writeRandom(rdest, 4 * M);
  const old = fs.readFileSync(rdest);
  fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(10 * M));
  const s = 12345;
  const d = M + 100;
  const l = 20 * M;
  const rn = failed(t, tscp(['-s', String(s), '-d', String(d), '-l', String(l), src, rdest]), 'ENOSPC', src, rdest, 'range');
  t.ok(rn > 0 && rn < l, `range: says how many bytes were written (${rn})`);
  const got = fs.readFileSync(rdest);
  t.equal(got.length, Math.max(old.length, d + rn), `range: DEST is max(old size, d + N) = ${Math.max(old.length, d + rn)} bytes`);
  t.ok(got.subarray(0, d).equals(old.subarray(0, d)), 'range: DEST[0, d) unchanged');
  t.equal(bufSha(got.subarray(d, d + rn)), sha256(src, s, s + rn), 'range: DEST[d, d+N) equals SOURCE[s, s+N)');
  t.ok(got.subarray(d + rn).equals(old.subarray(Math.min(old.length, d + rn))), 'range: DEST past d+N unchanged');
  unchanged(t, src, srcBefore, 'SOURCE after the range');
});

t.test('EROFS: DEST on a read-only bind mount', async (t) => {
  const base = caseDir(t, 'ext4', 'erofs');
  if (!base) return;
  const src = path.join(base, 'src');
  writeRandom(src, M);
  const rw = path.join(base, 'rw');
  const ro = path.join(base, 'ro');
  fs.mkdirSync(rw);
  fs.mkdirSync(ro);
  writeRandom(path.join(rw, 'dest'), 64 * K);
  let bind = sh('mount', ['--bind', rw, ro]);
  if (bind.status === 0) {
    t.teardown(() => {
      spawnSync('umount', [ro], { stdio: 'ignore' });
    });
    bind = sh('mount', ['-o', 'remount,bind,ro', ro]);
  }
  if (bind.status !== 0) {
    t.fail(`cannot make a read-only bind mount: ${bind.out}`);
    return;
  }
  const dest = path.join(ro, 'dest');
  const before = snapshot(dest);
  failed(t, tscp([src, dest]), 'EROFS', src, dest, 'whole file over an existing DEST');
  failed(t, tscp([src, path.join(ro, 'new')]), 'EROFS', src, path.join(ro, 'new'), 'whole file to a new DEST');
  failed(t, tscp(['--inplace', src, dest]), 'EROFS', src, dest, '--inplace');
  failed(t, tscp(['-d', '4096', '-l', '4096', src, dest]), 'EROFS', src, dest, 'range');
  unchanged(t, dest, before, 'DEST');
  t.same(fs.readdirSync(ro), ['dest'], 'nothing created');
});

t.test('EFBIG: RLIMIT_FSIZE (prlimit --fsize)', async (t) => {
  if (!mayRun(t, which('prlimit') ? null : 'prlimit is not installed')) return;
  const dir = caseDir(t, 'ext4', 'efbig');
  if (!dir) return;
  const src = path.join(dir, 'src');
  writeRandom(src, 4 * M);
  const srcBefore = snapshot(src);
  const limit = M;

  const dest = path.join(dir, 'dest');
  writeRandom(dest, 64 * K);
  const before = snapshot(dest);
  const r = tscpWrapped([src, dest], { fsize: limit });
  t.equal(r.signal, null, `not killed by SIGXFSZ (Node ignores it): signal ${r.signal}`);
  failed(t, r, 'EFBIG', src, dest, 'whole file');
  unchanged(t, dest, before, 'existing DEST');
  noTemps(t, dir, 'whole file');

  const rdest = path.join(dir, 'range');
  writeRandom(rdest, 64 * K);
  const old = fs.readFileSync(rdest);
  const d = 8192 + 3;
  const r2 = tscpWrapped(['-s', '5', '-d', String(d), '-l', String(2 * M), src, rdest], { fsize: limit });
  t.equal(r2.signal, null, 'range: not killed by SIGXFSZ');
  const n = failed(t, r2, 'EFBIG', src, rdest, 'range');
  t.equal(n, limit - d, `range: reports exactly the bytes up to the limit (${limit - d})`);
  const got = fs.readFileSync(rdest);
  t.equal(got.length, d + n, 'range: DEST ends at d + N');
  t.ok(got.subarray(0, d).equals(old.subarray(0, d)), 'range: DEST[0, d) unchanged');
  t.equal(bufSha(got.subarray(d)), sha256(src, 5, 5 + n), 'range: DEST[d, d+N) equals SOURCE[s, s+N)');
  unchanged(t, src, srcBefore, 'SOURCE');
});

t.test('EDQUOT: a btrfs subvolume with a qgroup limit', async (t) => {
  const mnt = mountFs(t, 'btrfs', 512);
  const from = caseDir(t, 'ext4', 'edquot-src');
  if (!mnt || !from) return;
  const sub = path.join(mnt, 'sub');
  const q1 = sh('btrfs', ['quota', 'enable', mnt]);
  const q2 = q1.status === 0 ? sh('btrfs', ['subvolume', 'create', sub]) : q1;
  const q3 = q2.status === 0 ? sh('btrfs', ['qgroup', 'limit', '8M', sub]) : q2;
  if (!mayRun(t, q3.status === 0 ? null : `btrfs quotas unavailable: ${q3.out}`)) return;
  const src = path.join(from, 'src');
  writeRandom(src, 32 * M);
  const srcBefore = snapshot(src);
  const dest = path.join(sub, 'dest');
  writeRandom(dest, M);
  const before = snapshot(dest);
  const n = failed(t, tscp([src, dest]), 'EDQUOT', src, dest, 'whole file over an existing DEST');
  t.ok(n > 0, `says how many bytes were copied (${n})`);
  unchanged(t, dest, before, 'existing DEST');
  noTemps(t, sub, 'EDQUOT');
  t.same(fs.readdirSync(sub), ['dest'], 'nothing else in the subvolume');
  unchanged(t, src, srcBefore, 'SOURCE');
});

t.test('EACCES: an unprivileged user (setpriv 65534)', async (t) => {
  if (!mayRun(t, which('setpriv') ? null : 'setpriv is not installed')) return;
  const dir = caseDir(t, 'ext4', 'eacces');
  if (!dir) return;
  const open = path.join(dir, 'open');
  const closed = path.join(dir, 'closed');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  fs.mkdirSync(closed);
  fs.chmodSync(closed, 0o755);

  const secret = path.join(dir, 'secret');
  writeRandom(secret, 64 * K);
  fs.chmodSync(secret, 0o600);
  const secretBefore = snapshot(secret);
  const out = path.join(open, 'copy');
  // cp's words for it: the path that cannot be read, alone.
  const unreadable = tscpWrapped([secret, out], { nobody: true });
  t.equal(unreadable.status, 1, 'unreadable SOURCE: exit 1');
  t.equal(unreadable.stderr, `tscp: cannot open '${secret}' for reading: Permission denied (EACCES)\n`, 'unreadable SOURCE: one line naming it');
  t.same(fs.readdirSync(open), [], 'unreadable SOURCE: nothing created');
  unchanged(t, secret, secretBefore, 'the unreadable SOURCE');

  const pub = path.join(dir, 'public');
  writeRandom(pub, 64 * K);
  fs.chmodSync(pub, 0o644);
  const inClosed = path.join(closed, 'copy');
  failed(t, tscpWrapped([pub, inClosed], { nobody: true }), 'EACCES', pub, inClosed, 'directory not writable');
  t.same(fs.readdirSync(closed), [], 'directory not writable: nothing created');

  const ro = path.join(open, 'readonly');
  writeRandom(ro, 64 * K);
  fs.chmodSync(ro, 0o644);
  const roBefore = snapshot(ro);
  failed(t, tscpWrapped(['-l', '4096', pub, ro], { nobody: true }), 'EACCES', pub, ro, 'range into a file not writable');
  failed(t, tscpWrapped(['--inplace', pub, ro], { nobody: true }), 'EACCES', pub, ro, '--inplace into a file not writable');
  unchanged(t, ro, roBefore, 'the file not writable');
  noTemps(t, open, 'EACCES');
});

t.test('an unprivileged overwrite keeps DEST\'s owner, as documented', async (t) => {
  if (!mayRun(t, which('setpriv') ? null : 'setpriv is not installed')) return;
  const dir = caseDir(t, 'ext4', 'owner-nobody');
  if (!dir) return;
  fs.chmodSync(dir, 0o777);
  const src = path.join(dir, 'src');
  const dest = path.join(dir, 'dest');
  writeRandom(src, 64 * K);
  fs.chmodSync(src, 0o644);
  writeRandom(dest, 4 * K);
  fs.chmodSync(dest, 0o666); // root's file, writable by everyone
  const r = tscpWrapped([src, dest], { nobody: true });
  t.comment(`as 65534 over root's 0666 DEST: exit ${r.status} ${r.stderr.trim()}`);
  const st = fs.statSync(dest);
  if (r.status === 0) {
    t.equal(sha256(dest), sha256(src), 'DEST has the new bytes');
    t.equal(st.mode & 0o7777, 0o666, 'DEST keeps its mode');
    t.equal(st.uid, 0, `DEST keeps its owner (root), as the README promises for an existing DEST (owner now ${st.uid})`);
  } else {
    t.equal(st.uid, 0, 'DEST keeps its owner');
  }
  noTemps(t, dir, 'unprivileged overwrite');
});

t.test('EPERM: append-only and immutable DEST on ext4 (chattr)', async (t) => {
  if (!mayRun(t, which('chattr') ? null : 'chattr is not installed')) return;
  const dir = caseDir(t, 'ext4', 'chattr');
  if (!dir) return;
  const src = path.join(dir, 'src');
  writeRandom(src, 2 * M);
  const srcBefore = snapshot(src);
  for (const flag of ['a', 'i']) {
    const dest = path.join(dir, `dest-${flag}`);
    writeRandom(dest, 64 * K);
    const set = sh('chattr', [`+${flag}`, dest]);
    t.teardown(() => {
      spawnSync('chattr', [`-${flag}`, dest], { stdio: 'ignore' });
    });
    if (set.status !== 0) {
      t.fail(`chattr +${flag}: ${set.out}`);
      continue;
    }
    const before = snapshot(dest);
    failed(t, tscp([src, dest]), 'EPERM', src, dest, `+${flag}, whole file`);
    failed(t, tscp(['--inplace', src, dest]), 'EPERM', src, dest, `+${flag}, --inplace`);
    failed(t, tscp(['-d', '4096', '-l', '4096', src, dest]), 'EPERM', src, dest, `+${flag}, range`);
    unchanged(t, dest, before, `+${flag} DEST`);
    t.match(sh('lsattr', ['-d', dest]).out, new RegExp(`^\\S*${flag}`), `+${flag} still set`);
    spawnSync('chattr', [`-${flag}`, dest], { stdio: 'ignore' });
  }
  noTemps(t, dir, 'chattr');
  unchanged(t, src, srcBefore, 'SOURCE');
});

t.test('an active swap file as DEST', async (t) => {
  if (!mayRun(t, which('mkswap') && which('swapon') ? null : 'mkswap/swapon are not installed')) return;
  const dir = caseDir(t, 'ext4', 'swap');
  if (!dir) return;
  const src = path.join(dir, 'src');
  writeRandom(src, 2 * M);
  const swap = path.join(dir, 'swapfile');
  fs.writeFileSync(swap, Buffer.alloc(16 * M));
  fs.chmodSync(swap, 0o600);
  const mk = sh('mkswap', [swap]);
  const on = mk.status === 0 ? sh('swapon', [swap]) : mk;
  if (on.status === 0) t.teardown(() => void spawnSync('swapoff', [swap], { stdio: 'ignore' }));
  if (!mayRun(t, on.status === 0 ? null : `cannot activate a swap file: ${on.out}`)) return;
  const before = snapshot(swap);
  const codes = ['ETXTBSY', 'EPERM', 'EBUSY'];
  const r1 = tscp([src, swap]);
  failed(t, r1, codes, src, swap, 'whole file');
  const r2 = tscp(['--inplace', src, swap]);
  failed(t, r2, codes, src, swap, '--inplace');
  const r3 = tscp(['-d', '8192', '-l', '4096', src, swap]);
  failed(t, r3, codes, src, swap, 'range');
  t.comment(`whole: ${r1.stderr.trim()} | --inplace: ${r2.stderr.trim()} | range: ${r3.stderr.trim()}`);
  unchanged(t, swap, before, 'the swap file');
  t.match(fs.readFileSync('/proc/swaps', 'utf8'), swap, 'still in use as swap');
  noTemps(t, dir, 'swap');
});

t.test('a SOURCE that grows or shrinks during the copy', async (t) => {
  t.test('grows (a child keeps appending): exit 1, no hang, DEST as it was', async (t) => {
    const mem = caseDir(t, 'mem', 'grow-src');
    const dir = caseDir(t, 'ext4', 'grow');
    if (!mem || !dir) return;
    const src = path.join(mem, 'src');
    writeStamped(src, SLOW);
    const dest = path.join(dir, 'dest');
    writeRandom(dest, M);
    const before = snapshot(dest);
    const run = start(t, [src, dest]);
    t.ok(await waitFor(() => run.exited() || tempAllocated(dir) > UNDER_WAY), 'the copy got under way');
    run.child.kill('SIGSTOP');
    t.ok(temps(dir).length === 1 && !run.exited(), 'stopped mid-copy');
    const appender = spawn('sh', ['-c', 'while :; do head -c 65536 /dev/zero >> "$1" || exit 1; sleep 0.005; done', 'sh', src], {
      stdio: 'ignore',
    });
    t.teardown(() => void appender.kill('SIGKILL'));
    t.ok(await waitFor(() => fs.statSync(src).size >= SLOW + M, 60_000), 'SOURCE grew by 1 MiB while tscp was stopped');
    run.child.kill('SIGCONT');
    const r = await finish(run);
    appender.kill('SIGKILL');
    t.ok(r, 'tscp did not hang');
    if (!r) return;
    t.equal(r.status, 1, `exit 1, not a clean success: ${r.stderr.trim()}`);
    t.match(r.stderr, new RegExp(`^tscp: cannot copy '${escapeRe(src)}' to '${escapeRe(dest)}': [^\\n]*(changed|grew)[^\\n]*\\n$`), 'one line saying SOURCE changed');
    unchanged(t, dest, before, 'DEST');
    noTemps(t, dir, 'grow');
  });

  t.test('shrinks (truncated mid-copy): exit 1, no hang, DEST as it was', async (t) => {
    const mem = caseDir(t, 'mem', 'shrink-src');
    const dir = caseDir(t, 'ext4', 'shrink');
    if (!mem || !dir) return;
    const src = path.join(mem, 'src');
    writeStamped(src, SLOW);
    const dest = path.join(dir, 'dest');
    writeRandom(dest, M);
    const before = snapshot(dest);
    const run = start(t, [src, dest]);
    t.ok(await waitFor(() => run.exited() || tempAllocated(dir) > UNDER_WAY), 'the copy got under way');
    run.child.kill('SIGSTOP');
    t.ok(temps(dir).length === 1 && !run.exited(), 'stopped mid-copy');
    fs.truncateSync(src, 8 * M);
    run.child.kill('SIGCONT');
    const r = await finish(run);
    t.ok(r, 'tscp did not hang');
    if (!r) return;
    t.equal(r.status, 1, `exit 1, not a clean success: ${r.stderr.trim()}`);
    t.match(r.stderr, new RegExp(`^tscp: cannot copy '${escapeRe(src)}' to '${escapeRe(dest)}': [^\\n]*(changed|shrank)[^\\n]*\\n$`), 'one line saying SOURCE changed');
    unchanged(t, dest, before, 'DEST');
    noTemps(t, dir, 'shrink');
  });

  t.test('shrinks during a range copy of a sparse SOURCE: not a clean success', async (t) => {
    const mem = caseDir(t, 'mem', 'shrink-range-src');
    const dir = caseDir(t, 'ext4', 'shrink-range');
    if (!mem || !dir) return;
    // Data [0, 128 MiB), a hole [128, 256 MiB), data [256, 384 MiB).
    const src = path.join(mem, 'src');
    writeSparse(src, 384 * M, [
      [0, 128 * M],
      [256 * M, 128 * M],
    ]);
    const dest = path.join(dir, 'dest');
    const run = start(t, ['-s', '0', '-d', '0', '-l', String(384 * M), src, dest]);
    t.ok(await waitFor(() => run.exited() || allocated(dest) > UNDER_WAY), 'the copy got under way');
    run.child.kill('SIGSTOP');
    const at = allocated(dest);
    t.ok(!run.exited() && at < 128 * M, `stopped inside the first data segment (${(at / M).toFixed(0)} MiB written)`);
    // Cut SOURCE inside its hole: the second data segment is gone.
    fs.truncateSync(src, 200 * M);
    run.child.kill('SIGCONT');
    const r = await finish(run);
    t.ok(r, 'tscp did not hang');
    if (!r) return;
    t.comment(`exit ${r.status}; stderr: ${r.stderr.trim()}; DEST ${fs.statSync(dest).size} bytes, ${allocated(dest)} allocated`);
    t.equal(r.status, 1, `exit 1: SOURCE shrank below the range's end, so the range was not copied (exit ${r.status})`);
    t.match(r.stderr, /^tscp: cannot copy .*\n$/, `one error line: ${JSON.stringify(r.stderr)}`);
  });
});

// =======================================================================================
// 4. Bad input: a clear error, the documented exit code, nothing written

t.test('bad input', async (t) => {
  const dir = caseDir(t, 'ext4', 'bad');
  if (!dir) return;
  const src = path.join(dir, 'src');
  writeRandom(src, 64 * K);
  const existing = path.join(dir, 'existing');
  writeRandom(existing, 16 * K);
  const srcBefore = snapshot(src);
  const existingBefore = snapshot(existing);
  const listing = () => fs.readdirSync(dir).sort();
  const baseline = listing();

  t.test('missing SOURCE', async (t) => {
    const missing = path.join(dir, 'missing');
    // cp's words: the path that failed, alone ("cannot stat 'missing'").
    for (const [args, what] of [
      [[missing, path.join(dir, 'out')], 'to a new DEST'],
      [[missing, existing], 'over an existing DEST'],
      [['-l', '10', missing, existing], 'range'],
    ] as const) {
      const r = tscp([...args]);
      t.equal(r.status, 1, `${what}: exit 1`);
      t.equal(r.stderr, `tscp: cannot stat '${missing}': No such file or directory (ENOENT)\n`, `${what}: names SOURCE alone`);
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
    }
    unchanged(t, existing, existingBefore, 'existing DEST');
    t.same(listing(), baseline, 'nothing created');
  });

  t.test('SOURCE a directory', async (t) => {
    const sub = path.join(dir, 'subdir');
    fs.mkdirSync(sub);
    t.teardown(() => fs.rmdirSync(sub));
    // As cp: a directory without -r is omitted, with one line naming it, exit 1.
    for (const [dest, what] of [[path.join(dir, 'out'), 'to a new DEST'], [existing, 'over an existing DEST']] as const) {
      const r = tscp([sub, dest]);
      t.equal(r.status, 1, `${what}: exit 1`);
      t.equal(r.stderr, `tscp: -r not specified; omitting directory '${sub}'\n`, `${what}: one line naming the directory`);
    }
    unchanged(t, existing, existingBefore, 'existing DEST');
    t.same(listing(), [...baseline, 'subdir'].sort(), 'nothing created');
  });

  t.test("DEST's parent missing", async (t) => {
    const dest = path.join(dir, 'no', 'such', 'dest');
    failed(t, tscp([src, dest]), 'ENOENT', src, dest, 'whole file');
    failed(t, tscp(['--inplace', src, dest]), 'ENOENT', src, dest, '--inplace');
    failed(t, tscp(['-l', '10', src, dest]), 'ENOENT', src, dest, 'range');
    t.same(listing(), baseline, 'nothing created');
  });

  t.test('SOURCE and DEST the same file', async (t) => {
    const hard = path.join(dir, 'hardlink');
    const soft = path.join(dir, 'symlink');
    fs.linkSync(src, hard);
    fs.symlinkSync('src', soft);
    t.teardown(() => {
      fs.rmSync(hard, { force: true });
      fs.rmSync(soft, { force: true });
    });
    const before = snapshot(src);
    const forms: [string, string, string][] = [
      ['the same path', src, src],
      ['a hard link', src, hard],
      ['a symlink as DEST', src, soft],
      ['a symlink as SOURCE', soft, src],
      ['DEST a directory holding SOURCE', src, dir],
    ];
    for (const [what, a, b] of forms) {
      for (const extra of [[], ['--inplace']]) {
        const r = tscp([...extra, a, b]);
        const label = `${what}${extra.length ? ' (--inplace)' : ''}`;
        t.equal(r.status, 1, `${label}: exit 1`);
        t.match(r.stderr, /^tscp: '.*' and '.*' are the same file\n$/, `${label}: one line: ${r.stderr.trim()}`);
      }
    }
    unchanged(t, src, before, 'the file');
    noTemps(t, dir, 'same file');
  });

  t.test('overlapping ranges in one file', async (t) => {
    const hard = path.join(dir, 'hl2');
    fs.linkSync(src, hard);
    t.teardown(() => fs.rmSync(hard, { force: true }));
    const before = snapshot(src);
    for (const [s, d, l] of [
      [0, 100, 1000],
      [4096, 0, 8192],
      [0, 0, 10],
    ] as const) {
      failed(t, tscp(['-s', String(s), '-d', String(d), '-l', String(l), src, src]), 'EINVAL', src, src, `-s ${s} -d ${d} -l ${l}`);
    }
    failed(t, tscp(['-s', '0', '-d', '100', '-l', '1000', src, hard]), 'EINVAL', src, hard, 'through a hard link');
    unchanged(t, src, before, 'the file');
  });

  t.test("a range past SOURCE's end", async (t) => {
    const size = srcBefore.size;
    const out = path.join(dir, 'out');
    failed(t, tscp(['-s', String(size - 10), '-l', '20', src, out]), 'EINVAL', src, out, 'reaching past the end, new DEST');
    failed(t, tscp(['-s', String(size + 1), src, out]), 'EINVAL', src, out, 'starting past the end');
    failed(t, tscp(['-s', String(size - 10), '-d', '0', '-l', '20', src, existing]), 'EINVAL', src, existing, 'existing DEST');
    unchanged(t, existing, existingBefore, 'existing DEST');
    t.same(listing(), baseline, 'nothing created');
  });

  t.test('an unknown option (a name with a leading dash, without --): usage error, exit 2', async (t) => {
    const r = tscp(['-dashed', path.join(dir, 'out')]);
    t.equal(r.status, 2, 'exit 2');
    t.match(r.stderr, /^tscp: /, `message: ${r.stderr.trim()}`);
    t.same(listing(), baseline, 'nothing created');
  });

  t.test('SOURCE after all of it', async (t) => {
    // Links were made to it and removed, so its ctime moved; content, inode, mode, mtime may not.
    const now = snapshot(src);
    const pick = (s: Snapshot) => ({ sha: s.sha, size: s.size, ino: s.ino, mode: s.mode, mtimeNs: s.mtimeNs });
    t.same(pick(now), pick(srcBefore), 'SOURCE: bytes, inode, mode and mtime unchanged');
  });
});

t.test('file names with spaces, newlines, a leading dash', async (t) => {
  const dir = caseDir(t, 'ext4', 'names');
  if (!dir) return;
  const names: [string, string][] = [
    ['with  spaces .src', ' dest with spaces '],
    ['new\nline.src', 'dest\nwith\nnewlines'],
    ['-leading-dash.src', '-leading dash dest'],
    ['tab\tand\\backslash\'quote".src', "it's \"quoted\"\t"],
  ];
  for (const [s, d] of names) {
    const src = path.join(dir, s);
    writeRandom(src, 100 * K + 1);
    const want = sha256(src);
    // Relative names, so a leading dash really leads the argument; -- ends the options.
    const r = tscp(['--', s, d], { cwd: dir });
    ok(t, r, JSON.stringify([s, d]));
    t.ok(fs.existsSync(path.join(dir, d)), `${JSON.stringify(d)} exists under exactly that name`);
    if (fs.existsSync(path.join(dir, d))) t.equal(sha256(path.join(dir, d)), want, `${JSON.stringify(d)}: the right bytes`);
    const r2 = tscp(['-l', '1000', '-d', '5', '--', s, `${d}.range`], { cwd: dir });
    ok(t, r2, `range ${JSON.stringify(d)}`);
  }
  noTemps(t, dir, 'names');

  // Errors name the path, and stay one line even when the path holds a newline.
  for (const missing of ['no such file with spaces', 'no such\nfile', '-dash missing']) {
    const r = tscp(['--', missing, 'out'], { cwd: dir });
    t.equal(r.status, 1, `${JSON.stringify(missing)}: exit 1`);
    const escaped = JSON.stringify(missing).slice(1, -1);
    t.ok(r.stderr.includes(missing) || r.stderr.includes(escaped), `${JSON.stringify(missing)}: the message names the path: ${JSON.stringify(r.stderr)}`);
    t.equal(r.stderr.split('\n').length, 2, `${JSON.stringify(missing)}: the message is one line: ${JSON.stringify(r.stderr)}`);
  }
  t.notOk(fs.existsSync(path.join(dir, 'out')), 'nothing created by the failures');
});

t.test('file names that are not UTF-8 (made by the shell with printf)', async (t) => {
  const dir = caseDir(t, 'ext4', 'bytes');
  if (!dir) return;
  const content = randomBytes(50 * K);
  const raw = (...parts: (string | number[])[]) =>
    Buffer.concat([Buffer.from(`${dir}/`), ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p)))]);
  // f\xff\xfe.src: not valid UTF-8.
  const srcRaw = raw('f', [0xff, 0xfe], '.src');
  fs.writeFileSync(srcRaw, content);
  const plain = path.join(dir, 'plain.src');
  fs.writeFileSync(plain, content);
  const listing = () => fs.readdirSync(dir, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();

  // SOURCE with such a name.
  const r1 = tscpShell('exec "$TSCP_NODE" "$TSCP_BIN" -- "$(printf "%s/f\\377\\376.src" "$1")" "$1/out1"', [dir]);
  t.comment(`SOURCE f\\xff\\xfe.src: exit ${r1.status} ${r1.stderr.trim()}`);
  ok(t, r1, 'SOURCE named f\\xff\\xfe.src');
  const out1 = path.join(dir, 'out1');
  t.ok(fs.existsSync(out1) && fs.readFileSync(out1).equals(content), 'DEST holds SOURCE\'s bytes');

  // DEST with such a name.
  const destRaw = raw('d', [0xff], '.dst');
  const before = listing();
  const r2 = tscpShell('exec "$TSCP_NODE" "$TSCP_BIN" -- "$1/plain.src" "$(printf "%s/d\\377.dst" "$1")"', [dir]);
  t.comment(`DEST d\\xff.dst: exit ${r2.status} ${r2.stderr.trim()}; directory now ${listing().join(' ')}`);
  ok(t, r2, 'DEST named d\\xff.dst');
  t.ok(fs.existsSync(destRaw) && fs.readFileSync(destRaw).equals(content), 'a file named exactly d\\xff.dst holds the bytes');
  const added = listing().filter((h) => !before.includes(h));
  t.same(added, [destRaw.subarray(Buffer.byteLength(`${dir}/`)).toString('hex')], `only d\\xff.dst was created (hex names added: ${added.join(', ')})`);

  // DEST a directory with such a name: the copy lands inside it.
  const subRaw = raw('sub', [0xfe]);
  fs.mkdirSync(subRaw);
  const beforeSub = listing();
  const r3 = tscpShell('exec "$TSCP_NODE" "$TSCP_BIN" -- "$1/plain.src" "$(printf "%s/sub\\376" "$1")"', [dir]);
  t.comment(`DEST directory sub\\xfe: exit ${r3.status} ${r3.stderr.trim()}`);
  ok(t, r3, 'into a directory named sub\\xfe');
  const inside = Buffer.concat([subRaw, Buffer.from('/plain.src')]);
  t.ok(fs.existsSync(inside) && fs.readFileSync(inside).equals(content), 'sub\\xfe/plain.src holds the bytes');
  const addedBeside = listing().filter((h) => !beforeSub.includes(h));
  t.same(addedBeside, [], `nothing created beside the directory (hex names added: ${addedBeside.join(', ')})`);

  // A missing SOURCE with such a name: the error names the path.
  const r4 = tscpShell('exec "$TSCP_NODE" "$TSCP_BIN" -- "$(printf "%s/m\\377issing" "$1")" "$1/out4"', [dir]);
  t.equal(r4.status, 1, 'missing SOURCE m\\xffissing: exit 1');
  // The stray byte is shown escaped, in coreutils' $'...' quoting, so the name is exact.
  t.match(r4.stderr, new RegExp(`^tscp: cannot stat \\$'${escapeRe(dir)}/m\\\\xffissing': .*\\(ENOENT\\)\\n$`), `the error names the path: ${JSON.stringify(r4.stderr)}`);
  t.notOk(fs.existsSync(path.join(dir, 'out4')), 'nothing created');
});

// =======================================================================================
// 5. Security

/** Run tscp under strace -f; the trace's lines, or null when strace is missing. */
function straceRun(t: Test, trace: string, args: string[]): { r: RunResult; lines: string[] } | null {
  if (!mayRun(t, which('strace') ? null : 'strace is not installed (apt-get install -y strace)')) return null;
  const logDir = scratchDir(t);
  const log = path.join(logDir, 'trace');
  // -E NODE_OPTIONS: without tap's loader (see nodeCmd), and without an env(1) exec to count.
  const r = spawnSync('strace', ['-f', '-qq', '-s', '4096', '-E', 'NODE_OPTIONS', '-e', `trace=${trace}`, '-o', log, '--', process.execPath, BIN, ...args], {
    encoding: 'utf8',
    env: cleanEnv(),
  });
  const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  return { r: { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) }, lines };
}

t.test('tscp starts no child processes (strace)', async (t) => {
  const dir = caseDir(t, 'ext4', 'nofork');
  if (!dir) return;
  const src = path.join(dir, 'src');
  writeRandom(src, 8 * M);
  const runs: [string, string[]][] = [
    ['whole file', [src, path.join(dir, 'out')]],
    ['--inplace', ['--inplace', src, path.join(dir, 'out')]],
    ['range', ['-s', '1', '-d', '3', '-l', '100000', src, path.join(dir, 'out')]],
    ['a failure', [path.join(dir, 'missing'), path.join(dir, 'out2')]],
  ];
  for (const [what, args] of runs) {
    const s = straceRun(t, 'execve,execveat,fork,vfork,clone,clone3', args);
    if (!s) return;
    const execs = s.lines.filter((l) => /^\d+ +execve(at)?\(/.test(l));
    t.equal(execs.length, 1, `${what}: exactly one execve (node itself): ${execs.join(' | ')}`);
    t.match(execs[0] ?? '', new RegExp(`execve\\("${escapeRe(process.execPath)}", \\["[^"]*", "${escapeRe(BIN)}"`), `${what}: that execve is node running tscp`);
    const forks = s.lines.filter((l) => /^\d+ +v?fork\(/.test(l));
    t.same(forks, [], `${what}: no fork/vfork`);
    const clones = s.lines.filter((l) => /^\d+ +clone3?\(/.test(l));
    const processes = clones.filter((l) => !l.includes('CLONE_THREAD'));
    t.same(processes, [], `${what}: every clone is a thread (CLONE_THREAD); ${clones.length} threads`);
    t.ok(clones.length > 0, `${what}: the trace saw Node's threads, so it works`);
  }
});

/** Syscalls (of strace's %file class) that change a path; open* only with write flags. */
function pathWrites(lines: string[]): { call: string; path: string; line: string }[] {
  const out: { call: string; path: string; line: string }[] = [];
  const changing = /^(creat|rename|renameat2?|link|linkat|symlink|symlinkat|unlink|unlinkat|mkdir|mkdirat|rmdir|truncate|chmod|fchmodat2?|chown|lchown|fchownat|utime|utimes|utimensat|futimesat|mknod|mknodat|setxattr|lsetxattr|removexattr|lremovexattr|mount|umount2|swapon|swapoff|chroot|pivot_root)$/;
  for (const line of lines) {
    const m = /^\d+ +(\w+)\((.*)$/.exec(line);
    if (!m) continue;
    const [, call, rest] = m as unknown as [string, string, string];
    const paths = [...rest.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]!);
    if (/^open(at2?)?$/.test(call)) {
      if (/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(rest)) out.push({ call, path: paths[0] ?? '', line });
    } else if (changing.test(call)) {
      for (const p of paths) out.push({ call, path: p, line });
    }
  }
  return out;
}

t.test('only DEST and its temporary file are written; the temp file is opened O_EXCL|O_NOFOLLOW, 0600, or by the quick way O_CREAT|O_EXCL with DEST\'s final bits (strace)', async (t) => {
  const dir = caseDir(t, 'ext4', 'writes');
  if (!dir) return;
  const src = path.join(dir, 'src');
  writeRandom(src, 4 * M);
  fs.chmodSync(src, 0o644);
  const srcBefore = snapshot(src);
  const into = path.join(dir, 'into');
  fs.mkdirSync(into);
  fs.mkdirSync(path.join(dir, 'into2'));
  const existing = path.join(dir, 'existing');
  writeRandom(existing, M);
  // The quick way (src/cli/quick-copy.ts: Node's copyFile) does a plain copy to a new name;
  // `--copy` sends the same copies through the engine.
  // Only where the umask leaves SOURCE's 0644 whole; otherwise the engine does them too.
  const quick = new Set((0o644 & process.umask()) === 0 ? ['new DEST', 'DEST a directory'] : []);
  const cases: [string, string[], string][] = [
    ['new DEST', [src, path.join(dir, 'new')], path.join(dir, 'new')],
    ['new DEST, engine', ['--copy', src, path.join(dir, 'new2')], path.join(dir, 'new2')],
    ['existing DEST', [src, existing], existing],
    ['DEST a directory', [src, into], path.join(into, 'src')],
    ['DEST a directory, engine', ['--copy', src, path.join(dir, 'into2')], path.join(dir, 'into2', 'src')],
    ['--inplace', ['--inplace', src, existing], existing],
    ['range', ['-s', '10', '-d', '20', '-l', '30000', src, existing], existing],
  ];
  for (const [what, args, target] of cases) {
    const s = straceRun(t, '%file', args);
    if (!s) return;
    ok(t, s.r, what);
    const tempRe = new RegExp(`^${escapeRe(path.dirname(target))}/\\.tscp-[0-9a-f]{12}-${escapeRe(path.basename(target))}$`);
    const writes = pathWrites(s.lines);
    const stray = writes.filter((w) => w.path !== target && !tempRe.test(w.path));
    t.same(stray.map((w) => w.line), [], `${what}: nothing written but ${path.basename(target)} and its temporary file`);
    const tempOpens = writes.filter((w) => /^open/.test(w.call) && tempRe.test(w.path));
    const whole = !args.includes('--inplace') && !args.includes('-s');
    if (whole) {
      t.equal(tempOpens.length, 1, `${what}: one temporary file opened`);
      for (const o of tempOpens) {
        if (quick.has(what)) {
          // O_CREAT|O_EXCL never follows a symlink at the name (open(2)), O_NOFOLLOW or not;
          // the bits are DEST's final ones (0644 = SOURCE's, which the umask leaves whole).
          for (const flag of ['O_CREAT', 'O_EXCL']) t.match(o.line, flag, `${what}: temp file opened with ${flag}`);
          t.match(o.line, /, 0100644\) = \d+$/, `${what}: temp file created with DEST's bits: ${o.line}`);
        } else {
          for (const flag of ['O_CREAT', 'O_EXCL', 'O_NOFOLLOW']) t.match(o.line, flag, `${what}: temp file opened with ${flag}`);
          t.match(o.line, /, 0600\) = \d+$/, `${what}: temp file created 0600: ${o.line}`);
        }
      }
      const renames = writes.filter((w) => /^rename/.test(w.call));
      t.equal(renames.length, 2, `${what}: one rename (temp -> DEST): ${renames.map((w) => w.line).join(' | ')}`);
      if (what === 'existing DEST') {
        // Exchanged with DEST (ext4 flushes a rename over a file), then the old file unlinked.
        t.match(renames[0]?.line ?? '', /^\d+ +renameat2\(.*RENAME_EXCHANGE\) = 0$/, `${what}: the rename is an exchange`);
        const unlinks = writes.filter((w) => /^unlink/.test(w.call));
        t.same(unlinks.map((w) => w.path), [renames[0]?.path], `${what}: then the old file unlinked at the temporary name`);
      }
    } else {
      t.same(tempOpens, [], `${what}: no temporary file`);
    }
    const srcOpens = s.lines.filter((l) => /^\d+ +open(at2?)?\(/.test(l) && l.includes(`"${src}"`));
    t.ok(srcOpens.length > 0, `${what}: SOURCE opened`);
    for (const o of srcOpens) t.match(o, /O_RDONLY/, `${what}: SOURCE opened read-only: ${o}`);
    for (const o of srcOpens) t.notMatch(o, /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/, `${what}: never for writing`);
  }
  unchanged(t, src, srcBefore, 'SOURCE');
});

t.test('a symlink planted at the temporary file\'s name is never followed', async (t) => {
  const dir = caseDir(t, 'ext4', 'planted');
  if (!dir) return;
  // Make the "random" part of the name predictable: the preload turns /dev/urandom (what
  // paths.ts reads) into a file of 0xab bytes, and fixes Web Crypto's getRandomValues (its
  // fallback) and crypto.randomBytes to return the same.
  const tools = scratchDir(t);
  const preload = path.join(tools, 'fixed-random.cjs');
  const fixedBytes = path.join(tools, 'fixed-bytes');
  fs.writeFileSync(fixedBytes, Buffer.alloc(4096, 0xab));
  fs.writeFileSync(
    preload,
    `const fs = require('node:fs');
const openSync = fs.openSync;
fs.openSync = (p, ...rest) => openSync(p === '/dev/urandom' ? ${JSON.stringify(fixedBytes)} : p, ...rest);
const crypto = require('node:crypto');
crypto.randomBytes = (n, cb) => { const b = Buffer.alloc(n, 0xab); if (cb) { cb(null, b); return undefined; } return b; };
require('node:module').syncBuiltinESMExports();
globalThis.crypto.getRandomValues = (a) => { a.fill(0xab); return a; };
`,
  );
  const env = { NODE_OPTIONS: `--require ${preload}` };
  const fixed = 'abababababab';
  const src = path.join(dir, 'src');
  writeRandom(src, M);
  const srcBefore = snapshot(src);
  const victimDir = path.join(dir, 'victims');
  fs.mkdirSync(victimDir);
  const victim = path.join(victimDir, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.chmodSync(victim, 0o600);
  const victimBefore = snapshot(victim);

  // Control: with the preload and nothing planted, the copy works (the preload is harmless).
  const control = path.join(dir, 'control');
  ok(t, tscpWrapped([src, control], { env }), 'control copy with the fixed name');

  // An existing DEST, a link at its temp name pointing at a victim file.
  const dest = path.join(dir, 'dest');
  writeRandom(dest, 4 * K);
  const destBefore = snapshot(dest);
  const planted = path.join(dir, `${TEMP_PREFIX}${fixed}-dest`);
  fs.symlinkSync(victim, planted);
  const r1 = tscpWrapped([src, dest], { env });
  t.comment(`planted link to a file: exit ${r1.status} ${r1.stderr.trim()}`);
  t.not(r1.status, 0, 'the copy does not go through the planted link');
  failed(t, r1, 'EEXIST', src, dest, 'planted link to a file');
  unchanged(t, victim, victimBefore, 'the victim file');
  unchanged(t, dest, destBefore, 'DEST');
  t.equal(fs.readlinkSync(planted), victim, 'the planted link is left alone');

  // A new DEST, a dangling link at its temp name: its target must not be created.
  const fresh = path.join(dir, 'fresh');
  const plantedFresh = path.join(dir, `${TEMP_PREFIX}${fixed}-fresh`);
  const wouldBe = path.join(victimDir, 'created-through-link');
  fs.symlinkSync(wouldBe, plantedFresh);
  const r2 = tscpWrapped([src, fresh], { env });
  t.comment(`planted dangling link: exit ${r2.status} ${r2.stderr.trim()}`);
  failed(t, r2, 'EEXIST', src, fresh, 'planted dangling link');
  t.notOk(fs.existsSync(wouldBe), 'nothing created through the dangling link');
  t.notOk(fs.existsSync(fresh), 'no DEST created');
  t.same(fs.readdirSync(victimDir), ['victim'], 'the victims\' directory is as it was');
  unchanged(t, src, srcBefore, 'SOURCE');
});

t.test('DEST is never created more permissive than SOURCE', async (t) => {
  const dir = caseDir(t, 'ext4', 'perm');
  if (!dir) return;
  const modes = [0o600, 0o640, 0o604, 0o400, 0o700];
  for (const mode of modes) {
    const src = path.join(dir, `src-${mode.toString(8)}`);
    writeRandom(src, 16 * K);
    fs.chmodSync(src, mode);
    for (const [what, extra] of [
      ['whole file', []],
      ['--inplace', ['--inplace']],
      ['range', ['-s', '0', '-d', '4096', '-l', '100']],
    ] as [string, string[]][]) {
      const dest = path.join(dir, `dest-${mode.toString(8)}-${what.replace(/\W/g, '')}`);
      const r = tscpWrapped([...extra, src, dest], { umask: 0 });
      const label = `SOURCE ${mode.toString(8)}, umask 000, ${what}`;
      ok(t, r, label);
      const got = fs.statSync(dest).mode & 0o7777;
      t.equal(got & ~mode, 0, `${label}: DEST ${got.toString(8)} grants nothing SOURCE does not`);
    }
  }
  noTemps(t, dir, 'modes');
});
