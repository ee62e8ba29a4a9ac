/**
 * Tree copies against GNU cp: `tscp -a` of a torture tree must leave exactly what `cp -a`
 * leaves, path by path, on the same filesystem (ext4 -> ext4) and across filesystems
 * (ext4 -> XFS); `-j 1` and `-j 4` must leave the same tree; on XFS and btrfs every file of
 * a tree is reflinked.
 *
 * The torture tree (built once, on ext4) has nested directories, empty files and an empty
 * directory, a sparse file, random files up to 3 MiB, hard-link groups of 3 and 2 names
 * across directories, relative, absolute, dangling and directory symlinks, a FIFO, a
 * character and a block device, a 0555 directory with files in it, setuid/setgid/sticky
 * bits, a foreign owner (1234:5678) on files, a directory and a symlink, user xattrs, access
 * and default ACLs (and what a default ACL gives new entries), names with spaces, a newline,
 * a leading dash and bytes that are not UTF-8, and a distinct past atime and mtime with
 * nanoseconds on every inode (directories last).
 *
 * Each copy is read back with lstat (bigint, nanoseconds) for every path BEFORE anything in
 * it is read (reading changes atimes under relatime), then sha256 of files, symlink targets
 * as bytes, `getfattr -R` (every xattr, hex) and `getfacl -R` dumps, and the hard-link
 * partition. The source's times are set again before every copy, since each copy reads the
 * source and so moves its atimes.
 *
 * Sockets are not in the comparison tree: cp -a recreates them, tscp deliberately skips
 * them with a message; that is checked on its own.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  cannotMountReason,
  mayRun,
  mountFs,
  sha256 as sha256Path,
  sharedBytes,
  tscp,
  writeRandom,
  writeSparse,
  type FsKind,
  type RunResult,
} from '../helpers/fs.js';

const K = 1024;
const M = 1024 * K;
const MOUNT_MIB: Record<Exclude<FsKind, 'tmpfs'>, number> = { ext4: 256, xfs: 512, btrfs: 256 };
/** How much more than SOURCE the copy of the sparse file may allocate. */
const SPARSE_SLACK = M;

// ---------------------------------------------------------------------------------------
// Mounts: each filesystem once for the whole file (lazily), shared by the subtests.

const mounts = new Map<FsKind, string>();

function mountOf(tt: Test, kind: Exclude<FsKind, 'tmpfs'>): string | null {
  if (!mayRun(tt, cannotMountReason(kind))) return null;
  let mnt = mounts.get(kind);
  if (mnt === undefined) {
    const m = mountFs(t, kind, MOUNT_MIB[kind]);
    if (m === null) {
      tt.fail(`could not mount ${kind}`);
      return null;
    }
    mounts.set(kind, m);
    mnt = m;
  }
  return mnt;
}

/** A fresh directory on `kind`, removed when the subtest ends. */
function workDir(tt: Test, kind: Exclude<FsKind, 'tmpfs'>, label: string): string | null {
  const mnt = mountOf(tt, kind);
  if (mnt === null) return null;
  const dir = fs.mkdtempSync(path.join(mnt, `${label}-`));
  tt.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------
// Byte paths

const SLASH = Buffer.from('/');
const b = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s) : s);
/** `parts` joined with '/', as bytes (names need not be UTF-8). */
const join = (...parts: (string | Buffer)[]): Buffer => {
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(SLASH);
    out.push(b(p));
  });
  return Buffer.concat(out);
};
/** A relative path's key in the maps: its bytes as latin1 (one char per byte, reversible). */
const keyOf = (rel: Buffer): string => rel.toString('latin1');
/** A path for messages: printable ASCII as is, every other byte as \xNN. */
function show(key: string): string {
  let s = '';
  for (const ch of key) {
    const c = ch.charCodeAt(0);
    s += c >= 0x20 && c < 0x7f && ch !== '\\' ? ch : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}
const hex = (buf: Buffer) => buf.toString('hex');

// ---------------------------------------------------------------------------------------
// Commands

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 64 * M });
  return { status: r.status, stdout: r.stdout ?? Buffer.alloc(0), stderr: String(r.stderr ?? '') };
}

/** Run a setup command; throw with its stderr if it fails (the tree would not be what it says). */
function must(cmd: string, ...args: string[]): void {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
}

function why(r: RunResult): string {
  return r.status === 0 && r.stderr === '' ? '' : ` (exit ${r.status}, signal ${r.signal}, stderr: ${JSON.stringify(r.stderr.trim())})`;
}

/** tscp exits 0 and says nothing on stderr. */
function tscpOk(tt: Test, args: string[], what: string): RunResult {
  const r = tscp(args);
  tt.equal(r.status, 0, `${what}: tscp ${args.join(' ')} exits 0${why(r)}`);
  tt.equal(r.stderr, '', `${what}: tscp prints nothing on stderr${r.stderr ? `, but it printed ${JSON.stringify(r.stderr)}` : ''}`);
  return r;
}

function cpOk(tt: Test, args: string[], what: string): void {
  const r = run('cp', args);
  tt.equal(r.status, 0, `${what}: cp ${args.join(' ')} exits 0 (stderr: ${JSON.stringify(r.stderr.trim())})`);
}

// ---------------------------------------------------------------------------------------
// Times: a distinct past atime and mtime, with nanoseconds, for every inode of the source.

interface Times {
  atimeNs: bigint;
  mtimeNs: bigint;
}
const BASE_SEC = 981173106n; // 2001-02-03 04:05:06 UTC

function timesFor(i: number): Times {
  const n = BigInt(i);
  const mtimeNs = (BASE_SEC + n * 3607n) * 1_000_000_000n + ((123_456_789n + n * 7_919n) % 1_000_000_000n);
  const atimeNs = (BASE_SEC + 86_400n * 40n + n * 1_301n) * 1_000_000_000n + ((987_654_321n + n * 104_729n) % 1_000_000_000n);
  return { atimeNs, mtimeNs };
}

/** `@SECONDS.NANOSECONDS` for touch -d. */
function touchDate(ns: bigint): string {
  return `@${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** 2001-02-03T04:05:06.123456789Z (981173106123456789 ns) */
function showNs(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const iso = new Date(Number(sec) * 1000).toISOString().replace('.000Z', '');
  return `${iso}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z (${ns} ns)`;
}

interface TimePlan {
  /** What every path of the source (and of a faithful copy) has, by key. */
  byKey: Map<string, Times>;
  /** One absolute path per inode, non-directories first, then directories deepest first. */
  order: { abs: Buffer; times: Times }[];
}

/**
 * Give every inode under `root` its own times (hard links share one inode, so one time).
 * Only lstat and readdir here: nothing is read or touched.
 */
function planTimes(root: string): TimePlan {
  const byKey = new Map<string, Times>();
  const byIno = new Map<bigint, Times>();
  const files: { abs: Buffer; times: Times }[] = [];
  const dirs: { abs: Buffer; times: Times; depth: number }[] = [];
  let i = 0;
  const walk = (abs: Buffer, rel: Buffer, depth: number) => {
    const st = fs.lstatSync(abs, { bigint: true });
    let times = byIno.get(st.ino);
    if (times === undefined) {
      times = timesFor(i++);
      byIno.set(st.ino, times);
      if (st.isDirectory()) dirs.push({ abs, times, depth });
      else files.push({ abs, times });
    }
    byKey.set(keyOf(rel), times);
    if (st.isDirectory()) {
      for (const name of (fs.readdirSync(abs, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare)) {
        walk(join(abs, name), rel.toString() === '.' ? name : join(rel, name), depth + 1);
      }
    }
  };
  walk(b(root), b('.'), 0);
  dirs.sort((x, y) => y.depth - x.depth);
  return { byKey, order: [...files, ...dirs] };
}

/**
 * Set the planned times with touch -h (nanoseconds; never follows a symlink; never opens a
 * FIFO or device). Paths go through xargs -0 on stdin, as bytes. Directories last.
 */
function applyTimes(plan: TimePlan): void {
  const input = Buffer.concat(
    plan.order.flatMap(({ abs, times }) => [b(touchDate(times.atimeNs)), Buffer.of(0), b(touchDate(times.mtimeNs)), Buffer.of(0), abs, Buffer.of(0)]),
  );
  const r = run('xargs', ['-0', '-n', '3', 'sh', '-c', 'touch -h -a -d "$0" -- "$2" && touch -h -m -d "$1" -- "$2"'], { input });
  if (r.status !== 0) throw new Error(`setting times failed: exit ${r.status}: ${r.stderr}`);
}

// ---------------------------------------------------------------------------------------
// Snapshot of a tree

interface Entry {
  key: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  nlink: bigint;
  ino: bigint;
  rdev: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  sha256?: string;
  /** Symlink target, hex of its bytes. */
  target?: string;
}

interface Snapshot {
  root: string;
  entries: Map<string, Entry>;
  /** getfattr lines (name=0xvalue), sorted, per key; absent: none. */
  xattrs: Map<string, string[]>;
  /** getfacl lines after '# file:', per key. */
  acls: Map<string, string[]>;
}

function typeOf(mode: number): string {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o020000:
      return 'char device';
    case 0o060000:
      return 'block device';
    case 0o140000:
      return 'socket';
    default:
      return `unknown (${(mode & 0o170000).toString(8)})`;
  }
}

function sha256Bytes(abs: Buffer): string {
  const h = createHash('sha256');
  const fd = fs.openSync(abs, 'r');
  try {
    const buf = Buffer.alloc(M);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** getfattr/getfacl name escapes: \ooo (both) and \\ (getfacl) back to bytes; other bytes raw. */
function unescapeName(s: string): string {
  return s.replace(/\\(\\|[0-7]{3})/g, (_, e: string) => (e === '\\' ? '\\' : String.fromCharCode(parseInt(e, 8))));
}

/** Split a `# file: NAME` dump (read as latin1) into key -> the lines that follow. */
function parseDump(out: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of out.split('\n')) {
    const m = /^# file: (.*)$/.exec(line);
    if (m) {
      current = [];
      map.set(unescapeName(m[1]!), current);
    } else if (line !== '' && current) {
      current.push(line);
    }
  }
  return map;
}

function snapshot(root: string): Snapshot {
  // 1. lstat everything before reading anything: reading moves atimes (relatime), and a
  //    directory's lstat comes before its readdir.
  const entries = new Map<string, Entry>();
  const abs = new Map<string, Buffer>();
  const walk = (p: Buffer, rel: Buffer) => {
    const st = fs.lstatSync(p, { bigint: true });
    const key = keyOf(rel);
    const mode = Number(st.mode);
    entries.set(key, {
      key,
      type: typeOf(mode),
      mode,
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: st.size,
      nlink: st.nlink,
      ino: st.ino,
      rdev: st.rdev,
      blocks: st.blocks,
      atimeNs: st.atimeNs,
      mtimeNs: st.mtimeNs,
    });
    abs.set(key, p);
    if (st.isDirectory()) {
      for (const name of (fs.readdirSync(p, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare)) {
        walk(join(p, name), rel.toString() === '.' ? name : join(rel, name));
      }
    }
  };
  walk(b(root), b('.'));

  // 2. Contents and targets.
  for (const e of entries.values()) {
    const p = abs.get(e.key)!;
    if (e.type === 'file') e.sha256 = sha256Bytes(p);
    else if (e.type === 'symlink') e.target = hex(fs.readlinkSync(p, { encoding: 'buffer' }) as Buffer);
  }

  // 3. Every xattr (hex values; ACLs included as system.posix_acl_*), and the ACLs as getfacl
  //    prints them. Run from the root so names come out relative ('.' for the root).
  const gx = run('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: root });
  if (gx.status !== 0 || gx.stderr !== '') throw new Error(`getfattr -R in ${root}: exit ${gx.status}: ${gx.stderr}`);
  const xattrs = parseDump(gx.stdout.toString('latin1'));
  for (const lines of xattrs.values()) lines.sort();
  const ga = run('getfacl', ['-R', '-P', '-n', '.'], { cwd: root });
  if (ga.status !== 0 || ga.stderr !== '') throw new Error(`getfacl -R in ${root}: exit ${ga.status}: ${ga.stderr}`);
  const acls = parseDump(ga.stdout.toString('latin1'));
  for (const key of [...xattrs.keys(), ...acls.keys()]) {
    if (!entries.has(key)) throw new Error(`getfattr/getfacl named '${show(key)}', which the walk of ${root} did not find (name decoding?)`);
  }
  return { root, entries, xattrs, acls };
}

/** The other names of `e`'s inode within the snapshot, sorted, for messages. */
function linkGroup(s: Snapshot, e: Entry): string {
  const names = [...s.entries.values()].filter((o) => o.ino === e.ino && o.key !== e.key).map((o) => show(o.key));
  return names.length ? names.sort().join(', ') : '(none)';
}

// ---------------------------------------------------------------------------------------
// The comparison: every path, every property; each message says what and where.

function comparePath<T>(tt: Test, ctx: string, key: string, prop: string, a: T, bv: T, fmt: (v: T) => string, [la, lb]: [string, string]): void {
  const same = a === bv;
  tt.ok(same, same ? `${ctx}: '${show(key)}' ${prop}: same (${fmt(a)})` : `${ctx}: '${show(key)}' ${prop} differs: ${la} ${fmt(a)}, ${lb} ${fmt(bv)}`);
}

const oct = (n: number) => `0${n.toString(8)}`;
const str = (v: unknown) => String(v);

function compareTrees(tt: Test, ctx: string, a: Snapshot, z: Snapshot, labels: [string, string]): void {
  const [la, lb] = labels;
  const keysA = [...a.entries.keys()].sort();
  const keysZ = [...z.entries.keys()].sort();
  for (const key of keysA) tt.ok(z.entries.has(key), `${ctx}: '${show(key)}' is in ${la}'s copy${z.entries.has(key) ? ` and in ${lb}'s` : ` but MISSING from ${lb}'s`}`);
  for (const key of keysZ) tt.ok(a.entries.has(key), `${ctx}: '${show(key)}' is in ${lb}'s copy${a.entries.has(key) ? ` and in ${la}'s` : ` but NOT in ${la}'s (extra)`}`);

  for (const key of keysA) {
    const x = a.entries.get(key)!;
    const y = z.entries.get(key);
    if (!y) continue;
    const cmp = <T>(prop: string, va: T, vb: T, fmt: (v: T) => string = str) => comparePath(tt, ctx, key, prop, va, vb, fmt, labels);
    cmp('type', x.type, y.type);
    cmp('st_mode', x.mode, y.mode, oct);
    cmp('uid', x.uid, y.uid);
    cmp('gid', x.gid, y.gid);
    cmp('size', x.size, y.size);
    cmp('mtime', x.mtimeNs, y.mtimeNs, showNs);
    cmp('atime', x.atimeNs, y.atimeNs, showNs);
    cmp('st_nlink', x.nlink, y.nlink);
    if (x.type === 'char device' || x.type === 'block device') cmp('st_rdev', x.rdev, y.rdev, (v) => `${v} (0x${v.toString(16)})`);
    if (x.type === 'file') cmp('content sha256', x.sha256, y.sha256);
    if (x.type === 'symlink') cmp('symlink target (hex)', x.target, y.target);
    if (x.type !== 'directory') cmp('hard-link partner names', linkGroup(a, x), linkGroup(z, y));
    cmp('xattrs (getfattr -d -m - -e hex)', (a.xattrs.get(key) ?? []).join('; ') || '(none)', (z.xattrs.get(key) ?? []).join('; ') || '(none)');
    if (x.type !== 'symlink') cmp('ACL (getfacl -n)', (a.acls.get(key) ?? ['(not listed)']).join('; '), (z.acls.get(key) ?? ['(not listed)']).join('; '));
  }
}

/** The test's own premises: `s` (the source, or a copy cp made) carries the times the source
 * was given, and the xattrs and ACLs it was given (so that equal copies mean something). */
function checkPremises(tt: Test, ctx: string, s: Snapshot, plan: TimePlan): void {
  tt.match((s.xattrs.get('xattr-file') ?? []).join('\n'), /^user\.tag=0x746f7274757265$/m, `${ctx}: user.tag on xattr-file`);
  tt.match((s.xattrs.get('xattr-file') ?? []).join('\n'), /^user\.binary=0x00ff7f8001$/m, `${ctx}: a binary user xattr on xattr-file`);
  tt.match((s.xattrs.get('xattr-dir') ?? []).join('\n'), /^user\.tag=0x/m, `${ctx}: user.tag on xattr-dir`);
  tt.match((s.acls.get('acl-file') ?? []).join('\n'), /^user:1234:rwx$/m, `${ctx}: the access ACL on acl-file`);
  tt.match((s.acls.get('acl-dir') ?? []).join('\n'), /^default:user:1234:r-x$/m, `${ctx}: the default ACL on acl-dir`);
  tt.match((s.acls.get('acl-dir/inherited') ?? []).join('\n'), /^user:1234:r-x/m, `${ctx}: acl-dir/inherited has the ACL the default gave it`);
  tt.same([...s.entries.keys()].sort(), [...plan.byKey.keys()].sort(), `${ctx}: the same paths as the source`);
  for (const [key, want] of plan.byKey) {
    const e = s.entries.get(key);
    if (!e) continue;
    tt.equal(showNs(e.mtimeNs), showNs(want.mtimeNs), `${ctx}: '${show(key)}' has the source's planned mtime`);
    tt.equal(showNs(e.atimeNs), showNs(want.atimeNs), `${ctx}: '${show(key)}' has the source's planned atime`);
  }
}

// ---------------------------------------------------------------------------------------
// The torture tree

const NON_UTF8_FILE = Buffer.from([0x66, 0xff, 0xfe]); // "f\xff\xfe"
const NON_UTF8_DIR = Buffer.from([0x64, 0x69, 0x72, 0xc3, 0x28]); // "dir" + an invalid UTF-8 pair
const NON_UTF8_INNER = Buffer.from([0x80, 0x81, 0x2e, 0x62, 0x69, 0x6e]); // "\x80\x81.bin"
const SPARSE = 'sparse.img';

interface Torture {
  src: string;
  plan: TimePlan;
  /** What a tree report's counts must say, from the source: new files (one per inode),
   * further names of an inode (hard links), directories (the top one too), symlinks,
   * FIFOs and devices. */
  expected: Record<'files' | 'hardLinks' | 'directories' | 'symlinks' | 'specials', number>;
}
let torture: Torture | null = null;

function setfattr(p: string, name: string, value: string): void {
  must('setfattr', '-h', '-n', name, '-v', value, '--', p);
}

function buildTorture(root: string): Torture {
  const src = path.join(root, 'src');
  const p = (...parts: string[]) => path.join(src, ...parts);
  const file = (rel: string, data: string | Buffer = '') => fs.writeFileSync(p(rel), data);

  fs.mkdirSync(src, { mode: 0o755 });
  fs.chmodSync(src, 0o755);

  // Nesting (4 levels), empty files, an empty directory.
  fs.mkdirSync(p('a', 'b', 'c', 'd'), { recursive: true });
  file('a/b/c/d/deepest.txt', 'four levels down\n');
  file('a/b/c/note.txt', 'three levels down\n');
  file('empty-file');
  file('a/b/empty-too');
  fs.mkdirSync(p('empty-dir'));
  fs.mkdirSync(p('a', 'b', 'c', 'empty-nested'));

  // Random content, up to ~3 MiB, sizes that are not whole blocks.
  writeRandom(p('random-3m.bin'), 3 * M - 7);
  writeRandom(p('a', 'random-1m.bin'), M + 1);
  writeRandom(p('a', 'b', 'random-4097.bin'), 4097);
  file('one-byte', 'x');

  // A sparse file: 8 MiB, two data extents, ends in a hole.
  writeSparse(p(SPARSE), 8 * M, [
    [0, 64 * K],
    [4 * M, 192 * K],
  ]);

  // Hard links: three names in three directories, and two names.
  writeRandom(p('a', 'hard-1'), 100 * K + 3);
  fs.linkSync(p('a', 'hard-1'), p('a', 'b', 'hard-2'));
  fs.linkSync(p('a', 'hard-1'), p('a', 'b', 'c', 'd', 'hard-3'));
  file('pair-1', 'a pair of names\n');
  fs.linkSync(p('pair-1'), p('a', 'b', 'c', 'pair-2'));

  // Symlinks: relative, absolute, dangling, to a directory, to a name that is not UTF-8.
  fs.symlinkSync('../../one-byte', p('a', 'b', 'rel-link'));
  fs.symlinkSync('/etc/hostname', p('abs-link'));
  fs.symlinkSync(path.join(src, 'random-3m.bin'), p('a', 'abs-into-tree'));
  fs.symlinkSync('no/such/target', p('dangling'));
  fs.symlinkSync('a/b', p('dir-link'));

  // Special files (sockets: see the separate test).
  must('mkfifo', '-m', '0640', p('fifo'));
  must('mknod', '-m', '0620', p('char-null'), 'c', '1', '3');
  must('mknod', '-m', '0660', p('a', 'block-loop'), 'b', '7', '200');

  // A read-only directory with files (and a subdirectory) in it: mode set after filling.
  fs.mkdirSync(p('ro-dir', 'sub'), { recursive: true });
  file('ro-dir/inside-1', 'in a 0555 directory\n');
  file('ro-dir/sub/inside-2', 'deeper in a 0555 directory\n');
  fs.chmodSync(p('ro-dir', 'sub'), 0o555);
  fs.chmodSync(p('ro-dir'), 0o555);

  // setuid file owned by someone else (chown first: chown clears setuid), setgid directory
  // with a foreign group, whose new entries inherit the group (and subdirectories the bit).
  file('setuid-prog', '#!/bin/sh\necho hi\n');
  fs.chownSync(p('setuid-prog'), 1234, 5678);
  fs.chmodSync(p('setuid-prog'), 0o4755);
  fs.mkdirSync(p('setgid-dir'));
  fs.chownSync(p('setgid-dir'), 0, 5678);
  fs.chmodSync(p('setgid-dir'), 0o2755);
  file('setgid-dir/inherits-group', 'group from the setgid directory\n');
  fs.mkdirSync(p('setgid-dir', 'inherits-setgid'));
  file('setgid-dir/inherits-setgid/leaf', 'leaf\n');
  fs.mkdirSync(p('sticky'));
  fs.chmodSync(p('sticky'), 0o1777);
  file('sticky/mode-0000');
  fs.chmodSync(p('sticky', 'mode-0000'), 0o000);
  file('sticky/group-exec-only', 'odd mode\n');
  fs.chmodSync(p('sticky', 'group-exec-only'), 0o610);

  // A foreign owner on files, a directory and a symlink.
  fs.mkdirSync(p('foreign'));
  file('foreign/owned', 'owned by 1234:5678\n');
  fs.chmodSync(p('foreign', 'owned'), 0o640);
  fs.chownSync(p('foreign', 'owned'), 1234, 5678);
  fs.symlinkSync('owned', p('foreign', 'owned-link'));
  fs.lchownSync(p('foreign', 'owned-link'), 1234, 5678);
  file('foreign/group-only', 'root:5678\n');
  fs.chownSync(p('foreign', 'group-only'), 0, 5678);
  fs.chmodSync(p('foreign'), 0o750);
  fs.chownSync(p('foreign'), 1234, 5678);

  // User xattrs on a file (text and binary values) and a directory.
  file('xattr-file', 'has xattrs\n');
  setfattr(p('xattr-file'), 'user.tag', 'torture');
  setfattr(p('xattr-file'), 'user.binary', '0x00ff7f8001');
  setfattr(p('xattr-file'), 'user.empty', '');
  fs.mkdirSync(p('xattr-dir'));
  file('xattr-dir/plain', 'plain file in an xattr directory\n');
  setfattr(p('xattr-dir'), 'user.tag', 'directory-tag');

  // ACLs: an access ACL on a file, a default ACL on a directory (and what it gives new entries).
  file('acl-file', 'has an access ACL\n');
  fs.chmodSync(p('acl-file'), 0o640);
  must('setfacl', '-m', 'u:1234:rwx', p('acl-file'));
  fs.mkdirSync(p('acl-dir'));
  must('setfacl', '-m', 'u:1234:rwx', p('acl-dir'));
  must('setfacl', '-d', '-m', 'u:1234:rx,g:5678:r', p('acl-dir'));
  file('acl-dir/inherited', 'created under a default ACL\n');
  fs.mkdirSync(p('acl-dir', 'sub'));
  setfattr(p('acl-dir', 'inherited'), 'user.tag', 'acl-and-xattr');

  // Names: spaces, a newline, a leading dash, bytes that are not UTF-8 (file, directory, target).
  fs.mkdirSync(p('dir with spaces'));
  file('dir with spaces/file with  two  spaces ', 'spaces\n');
  file('new\nline', 'a newline in the name\n');
  file('-leading-dash', 'dash\n');
  fs.mkdirSync(p('--dash-dir'));
  file('--dash-dir/-x', 'dash in dash\n');
  fs.writeFileSync(join(src, NON_UTF8_FILE), 'not UTF-8 name\n');
  fs.mkdirSync(join(src, NON_UTF8_DIR));
  fs.writeFileSync(join(src, NON_UTF8_DIR, NON_UTF8_INNER), randomBytes(5000));
  fs.symlinkSync(NON_UTF8_FILE, join(src, 'link-to-non-utf8'));
  fs.symlinkSync(Buffer.concat([b('../'), NON_UTF8_FILE]), join(src, NON_UTF8_DIR, Buffer.from([0x6c, 0xe9])));

  // Times last, directories last of all.
  const plan = planTimes(src);
  applyTimes(plan);

  const s = snapshot(src); // reads the source: every copy sets the times again first
  const all = [...s.entries.values()];
  const fileInodes = new Set(all.filter((e) => e.type === 'file').map((e) => e.ino));
  const expected = {
    files: fileInodes.size,
    hardLinks: all.filter((e) => e.type === 'file').length - fileInodes.size,
    directories: all.filter((e) => e.type === 'directory').length,
    symlinks: all.filter((e) => e.type === 'symlink').length,
    specials: all.filter((e) => ['fifo', 'char device', 'block device'].includes(e.type)).length,
  };
  return { src, plan, expected };
}

/** The torture tree on ext4, built on first use and shared by every subtest. */
function getTorture(tt: Test): Torture | null {
  if (torture) return torture;
  const mnt = mountOf(tt, 'ext4');
  if (mnt === null) return null;
  const dir = fs.mkdtempSync(path.join(mnt, 'torture-'));
  torture = buildTorture(dir);
  return torture;
}

/** Before every copy: the source's planned times again (each copy read it, moving atimes). */
function resetSourceTimes(tt: Torture): void {
  applyTimes(tt.plan);
}

// =======================================================================================
// 0. The tree is what it claims to be (so that equal copies mean something)

t.test('the torture tree has what the comparison relies on', async (tt) => {
  const tor = getTorture(tt);
  if (!tor) return;
  resetSourceTimes(tor);
  const s = snapshot(tor.src);
  checkPremises(tt, 'source', s, tor.plan);
  const types = new Map<string, number>();
  for (const e of s.entries.values()) types.set(e.type, (types.get(e.type) ?? 0) + 1);
  tt.equal(types.get('directory'), 19, 'source: 19 directories (the top one too)');
  tt.equal(types.get('symlink'), 8, 'source: 8 symlinks');
  tt.equal(types.get('fifo'), 1, 'source: a FIFO');
  tt.equal(types.get('char device'), 1, 'source: a character device');
  tt.equal(types.get('block device'), 1, 'source: a block device');
  tt.equal(types.get('socket'), undefined, 'source: no socket in the comparison tree');
  const at = (rel: string | Buffer) => s.entries.get(keyOf(b(rel)));
  tt.equal(at('a/hard-1')?.nlink, 3n, 'source: a/hard-1 has 3 names');
  tt.equal(at('pair-1')?.nlink, 2n, 'source: pair-1 has 2 names');
  tt.equal(at('a/block-loop')?.rdev, (7n << 8n) | 200n, 'source: a/block-loop is device 7:200');
  tt.equal(at('char-null')?.rdev, (1n << 8n) | 3n, 'source: char-null is device 1:3');
  tt.equal(oct(at('setuid-prog')!.mode & 0o7777), '04755', 'source: setuid-prog is 4755');
  tt.equal(oct(at('setgid-dir')!.mode & 0o7777), '02755', 'source: setgid-dir is 2755');
  tt.equal(oct(at('setgid-dir/inherits-setgid')!.mode & 0o7777), '02755', 'source: the setgid bit was inherited');
  tt.equal(at('setgid-dir/inherits-group')?.gid, 5678, 'source: the group was inherited');
  tt.equal(oct(at('ro-dir')!.mode & 0o7777), '0555', 'source: ro-dir is 0555');
  tt.equal(at('foreign/owned')?.uid, 1234, 'source: foreign/owned is owned by 1234');
  tt.equal(at('foreign/owned-link')?.gid, 5678, 'source: foreign/owned-link (a symlink) has group 5678');
  tt.equal(at(join(NON_UTF8_DIR, NON_UTF8_INNER))?.type, 'file', 'source: a file with a non-UTF-8 name in a non-UTF-8 directory');
  tt.equal(at('new\nline')?.type, 'file', 'source: a name with a newline');
  const sparse = at(SPARSE)!;
  tt.equal(sparse.size, BigInt(8 * M), 'source: the sparse file is 8 MiB long');
  tt.ok(sparse.blocks * 512n <= BigInt(M), `source: the sparse file allocates ${sparse.blocks * 512n} bytes (256 KiB of data)`);
});

// =======================================================================================
// 1. tscp -a against cp -a: ext4 -> ext4, ext4 -> XFS

for (const to of ['ext4', 'xfs'] as const) {
  t.test(`tscp -a matches cp -a on the torture tree: ext4 -> ${to}`, async (tt) => {
    const tor = getTorture(tt);
    const dir = tor && workDir(tt, to, 'cmp');
    if (!tor || !dir) return;
    const cpDst = path.join(dir, 'cp-copy');
    const tDst = path.join(dir, 'tscp-copy');

    resetSourceTimes(tor);
    cpOk(tt, ['-a', tor.src, cpDst], 'cp -a');
    resetSourceTimes(tor);
    // With --json on one filesystem, without on the other (the plain run must print nothing).
    const json = to === 'ext4';
    const r = tscpOk(tt, ['-a', ...(json ? ['--json'] : []), tor.src, tDst], 'tscp -a');
    if (!json) tt.equal(r.stdout, '', 'tscp -a without -v or --json prints nothing on stdout');
    const cpSnap = snapshot(cpDst);
    const tSnap = snapshot(tDst);

    checkPremises(tt, 'premise: cp -a copy', cpSnap, tor.plan);
    compareTrees(tt, `ext4 -> ${to}`, cpSnap, tSnap, ['cp', 'tscp']);

    // The sparse file stays sparse.
    const srcBlocks = fs.lstatSync(path.join(tor.src, SPARSE)).blocks * 512;
    const tBlocks = fs.lstatSync(path.join(tDst, SPARSE)).blocks * 512;
    tt.ok(
      tBlocks <= srcBlocks + SPARSE_SLACK,
      `ext4 -> ${to}: '${SPARSE}' st_blocks: tscp's copy allocates ${tBlocks} bytes, the source ${srcBlocks} (at most ${SPARSE_SLACK} more allowed)`,
    );

    // The report agrees: no error, nothing skipped or failed.
    if (!json) return;
    let report: Record<string, unknown> | null = null;
    try {
      report = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      tt.fail(`--json: stdout is one JSON document: ${JSON.stringify(r.stdout.slice(0, 400))}`);
    }
    if (report) {
      tt.equal(report.kind, 'tree', '--json: kind tree');
      tt.equal(report.ok, true, '--json: ok');
      tt.equal(report.exitCode, 0, '--json: exitCode 0');
      tt.same(report.errors, [], '--json: no errors');
      const counts = report.counts as Record<string, number>;
      tt.equal(counts.failed, 0, '--json: counts.failed 0');
      tt.equal(counts.skipped, 0, '--json: counts.skipped 0');
      for (const [what, n] of Object.entries(tor.expected)) {
        tt.equal(counts[what], n, `--json: counts.${what} is ${counts[what]}, the source has ${n}`);
      }
      tt.equal(report.interrupted, false, '--json: not interrupted');
    }
  });
}

// =======================================================================================
// 2. -j 1 and -j 4 leave the same tree

t.test('tscp -a -j 1 and -j 4 leave identical trees (ext4 -> ext4)', async (tt) => {
  const tor = getTorture(tt);
  const dir = tor && workDir(tt, 'ext4', 'jobs');
  if (!tor || !dir) return;
  const one = path.join(dir, 'j1');
  const four = path.join(dir, 'j4');
  for (const [jobs, dst] of [
    [1, one],
    [4, four],
  ] as const) {
    resetSourceTimes(tor);
    const r = tscpOk(tt, ['-a', '--json', '-j', String(jobs), tor.src, dst], `-j ${jobs}`);
    const report = JSON.parse(r.stdout) as { ok: boolean; jobs: number; errors: unknown[] };
    tt.equal(report.jobs, jobs, `-j ${jobs}: --json says ${report.jobs} workers ran`);
    tt.equal(report.ok, true, `-j ${jobs}: --json ok`);
    tt.same(report.errors, [], `-j ${jobs}: --json: no errors`);
  }
  compareTrees(tt, '-j 1 vs -j 4', snapshot(one), snapshot(four), ['-j 1', '-j 4']);
});

// =======================================================================================
// 3. Sockets: skipped with a message, nothing created

t.test('a socket in the tree is skipped with a message naming it', async (tt) => {
  const dir = workDir(tt, 'ext4', 'socket');
  if (!dir) return;
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'regular'), 'regular file\n');
  fs.writeFileSync(path.join(src, 'sub', 'other'), 'another\n');
  const sock = path.join(src, 'sub', 'listening.sock');
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, resolve);
  });
  tt.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  tt.ok(fs.lstatSync(sock).isSocket(), 'the source holds a socket');

  const dst = path.join(dir, 'dst');
  const r = tscp(['-a', src, dst]);
  tt.equal(r.status, 0, `exit 0 with a socket in the tree${why(r)}`);
  tt.match(r.stderr, new RegExp(`skipping socket '${sock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`), `stderr names the socket: ${JSON.stringify(r.stderr)}`);
  tt.equal(r.stderr.trim().split('\n').length, 1, 'one line on stderr');
  tt.notOk(fs.existsSync(path.join(dst, 'sub', 'listening.sock')), 'nothing is created for the socket');
  tt.same(fs.readdirSync(path.join(dst, 'sub')).sort(), ['other'], "the socket's directory holds only the other file (no temporary file)");
  tt.equal(fs.readFileSync(path.join(dst, 'regular'), 'utf8'), 'regular file\n', 'the rest of the tree is copied');

  const dst2 = path.join(dir, 'dst-json');
  const rj = tscp(['-a', '--json', src, dst2]);
  tt.equal(rj.status, 0, `--json: exit 0${why(rj)}`);
  const report = JSON.parse(rj.stdout) as { ok: boolean; counts: Record<string, number>; errors: unknown[] };
  tt.equal(report.ok, true, '--json: ok');
  tt.equal(report.counts.skipped, 1, '--json: counts.skipped 1 (the socket)');
  tt.same(report.errors, [], '--json: no errors');
  tt.notOk(fs.existsSync(path.join(dst2, 'sub', 'listening.sock')), '--json: nothing created for the socket');
});

// =======================================================================================
// 4. On XFS and btrfs every file of a tree is reflinked

const REFLINK_TREE: [string, number][] = [
  ['empty', 0],
  ['small-8k', 8 * K],
  ['odd-64k', 64 * K + 1],
  ['a/one-mib', M],
  ['a/b/three-mib-odd', 3 * M + 123],
  ['a/b/c/d/deep', 200 * K + 17],
  ['name with spaces', 12 * K],
];

for (const kind of ['xfs', 'btrfs'] as const) {
  t.test(`tscp -a reflinks every file of a tree on ${kind}`, async (tt) => {
    const dir = workDir(tt, kind, 'reflink');
    if (!dir) return;
    const src = path.join(dir, 'src');
    let total = 0;
    for (const [rel, size] of REFLINK_TREE) {
      fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
      writeRandom(path.join(src, rel), size);
      total += size;
    }
    const dst = path.join(dir, 'dst');
    const r = tscpOk(tt, ['-a', '--json', src, dst], `${kind}`);
    const report = JSON.parse(r.stdout) as { ok: boolean; totalBytes: number; bytes: Record<string, number>; counts: Record<string, number> };
    tt.equal(report.ok, true, `${kind} --json: ok`);
    tt.equal(report.totalBytes, total, `${kind} --json: totalBytes ${report.totalBytes}, the tree holds ${total}`);
    tt.equal(report.bytes.reflinked, total, `${kind} --json: bytes.reflinked ${report.bytes.reflinked}, the tree holds ${total}`);
    for (const how of ['copyFileRange', 'sendfile', 'readWrite', 'deduplicated']) {
      tt.equal(report.bytes[how], 0, `${kind} --json: bytes.${how} is ${report.bytes[how]}, expected 0 (everything reflinked)`);
    }
    tt.equal(report.counts.files, REFLINK_TREE.length, `${kind} --json: counts.files ${report.counts.files}, the tree has ${REFLINK_TREE.length} files`);
    for (const [rel, size] of REFLINK_TREE) {
      const s = path.join(src, rel);
      const d = path.join(dst, rel);
      tt.equal(fs.statSync(d).size, size, `${kind}: '${rel}' size`);
      tt.equal(sha256Path(d), sha256Path(s), `${kind}: '${rel}' content (sha256)`);
      if (size === 0) continue;
      const want = Math.ceil(size / 4096) * 4096;
      const shared = sharedBytes(d);
      tt.equal(shared, want, `${kind}: '${rel}' (${size} bytes): ${shared} bytes of the copy in shared extents, expected all ${want} (whole blocks)`);
      const srcShared = sharedBytes(s);
      tt.equal(srcShared, want, `${kind}: '${rel}': ${srcShared} bytes of the source in shared extents, expected all ${want}`);
    }
  });
}
