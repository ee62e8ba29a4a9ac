/**
 * Tree copying end to end, option by option, each compared with GNU cp where cp has the
 * option: the same input is built twice (the second a `cp -a` clone of the first), cp runs
 * in one copy and tscp with the same arguments in the other, and the two whole trees must
 * then be equal: paths, types, contents, permission bits (setuid/setgid/sticky included),
 * symlink targets, and whether each mtime is the old one set by the test or a new one.
 *
 *   -r             modes are SOURCE's less the umask (027 here), no setuid kept, times new
 *   operands       trailing slashes, DEST missing or a directory, several sources, -t, -T
 *   -n, -u         existing files untouched (content and inode) / only older DEST replaced
 *   --update=none  as cp 9.1's -n (cp 9.1 has no --update=WHEN); --update=all as plain cp
 *   -P / -L / -H   a symlink operand and symlinks inside the tree
 *   -x             a tmpfs mounted inside SOURCE: its mount point made empty, not entered
 *   refusals       into itself (nothing made, where cp makes a first level: only its status
 *                  and message are compared), a directory without -r, several sources
 *                  onto a non-directory (exit 2, nothing touched), cp's -l/-s/-d letters
 *   EACCES         as uid 1234: a 000 directory and a 000 file fail, one line each, exit 1,
 *                  every other file copied; --json lists exactly those paths
 *   signals        SIGINT/SIGTERM during a 12 x 150 MiB tree (tmpfs -> XFS, --copy): exit
 *                  130/143 within 0.5 s, every file at a DEST path complete, no .tscp-* name
 *   FIFO           `-p fifo out` with no writer: SIGTERM ends it within 0.5 s, no `out`
 *   ulimit -n 1024 3000 files in one directory and 300 nested directories
 *   -j 1 / -j 8    identical trees (and equal to cp -r's); 12 runs of -j 8 all succeed
 *
 * Tree runs use bin/tscp.js without tap's hooks (each worker thread would load them too);
 * the usage errors, which start no worker, go through the tscp() helper.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, TEMP_PREFIX, mountFs, mayRun, scratchDir, sha256, tscp, writeRandom, type RunResult } from '../helpers/fs.js';

const K = 1024;
const M = 1024 * K;
const UMASK = 0o027;
/** Mtimes the test sets are before this; anything after it was written by the run. */
const OLD_BEFORE = Date.UTC(2021, 0, 1);
const T2000 = Date.UTC(2000, 0, 1) / 1000;
const T2010 = Date.UTC(2010, 0, 1) / 1000;
const T2020 = Date.UTC(2020, 0, 1) / 1000;
const STOP_WITHIN_MS = 500;

// Children inherit it: both cp and tscp see the same, visible umask.
process.umask(UMASK);

// ---------------------------------------------------------------------------------------
// Helpers

/** The environment without tap's coverage hooks (for timed, async and other-uid runs). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  for (const k of Object.keys(env)) {
    if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_')) delete env[k];
  }
  return env;
}

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...options });
  return { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * bin/tscp.js without tap's hooks (through env -u, as tap re-adds its loader to any child's
 * NODE_OPTIONS): every worker thread would otherwise load them too, at seconds per run.
 */
function ts(args: string[], cwd: string, options: SpawnSyncOptions = {}): RunResult {
  return run('env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args], { cwd, env: cleanEnv(), ...options });
}

function cp(args: string[], cwd: string): RunResult {
  return run('cp', args, { cwd, env: { ...process.env, LC_ALL: 'C' } });
}

function perm(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Every path under `root` (relative, '.' for root itself) with its type, permission bits,
 * contents (sha256) or symlink target, and its mtime when it is one the test set (else 'new').
 */
function tree(root: string, withTimes = true): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const p = rel === '.' ? root : path.join(root, rel);
    const st = fs.lstatSync(p);
    const when = !withTimes ? '' : st.mtimeMs < OLD_BEFORE ? ` mtime=${new Date(st.mtimeMs).toISOString()}` : ' mtime=new';
    if (st.isSymbolicLink()) out[rel] = `symlink -> ${fs.readlinkSync(p)}`;
    else if (st.isFile()) out[rel] = `file ${perm(st.mode)} ${st.size} ${sha256(p)}${when}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${perm(st.mode)}${when}`;
      for (const name of fs.readdirSync(p).sort()) walk(rel === '.' ? name : path.join(rel, name));
    } else if (st.isFIFO()) out[rel] = `fifo ${perm(st.mode)}${when}`;
    else out[rel] = `other ${st.mode.toString(8)}`;
  };
  walk('.');
  return out;
}

/** Every path under `root` whose name starts with TEMP_PREFIX. */
function tempNames(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.name.startsWith(TEMP_PREFIX)) found.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(root)) walk(root);
  return found;
}

/** Inode numbers of the given paths under `root`. */
function inodes(root: string, rels: string[]): Record<string, number> {
  return Object.fromEntries(rels.map((r) => [r, fs.lstatSync(path.join(root, r)).ino]));
}

/** The differences between two trees, one line each (empty when equal). */
function treeDiff(a: Record<string, string>, b: Record<string, string>, aName = 'cp', bName = 'tscp'): string[] {
  const lines: string[] = [];
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (a[k] !== b[k]) lines.push(`${k}: ${aName}: ${a[k] ?? '(absent)'} | ${bName}: ${b[k] ?? '(absent)'}`);
  }
  return lines;
}

function sameTree(t: Test, a: Record<string, string>, b: Record<string, string>, what: string, aName = 'cp', bName = 'tscp'): void {
  const diff = treeDiff(a, b, aName, bName);
  t.same(diff, [], `${what}: ${bName}'s tree equals ${aName}'s${diff.length ? `\n  ${diff.join('\n  ')}` : ''}`);
}

interface Twin {
  /** Where cp runs. */
  a: string;
  /** Where tscp runs. */
  b: string;
}

/** Build the input with `setup` in one directory and clone it with cp -a into another. */
function twin(t: Test, setup: (root: string) => void): Twin {
  const dir = scratchDir(t);
  const a = path.join(dir, 'cp');
  const b = path.join(dir, 'tscp');
  fs.mkdirSync(a);
  setup(a);
  const r = run('cp', ['-a', `${a}/.`, b]);
  if (r.status !== 0) throw new Error(`cp -a failed: ${r.stderr}`);
  return { a, b };
}

interface Step {
  args: string[];
  /** tscp's exit status when it differs from cp's by design. */
  status?: number;
}

/**
 * Run each step with cp in twin.a and tscp in twin.b (the same arguments, relative paths),
 * comparing exit statuses; then compare the two whole trees.
 */
function compareSteps(t: Test, tw: Twin, steps: (Step | string[])[], what: string): RunResult[] {
  const results: RunResult[] = [];
  for (const s of steps) {
    const step = Array.isArray(s) ? { args: s } : s;
    const c = cp(step.args, tw.a);
    const r = ts(step.args, tw.b);
    const label = `${what}: ${step.args.join(' ')}`;
    t.equal(r.status, step.status ?? c.status, `${label}: exit ${step.status ?? c.status} (cp: ${c.status} ${c.stderr.trim()}; tscp: ${r.status} ${r.stderr.trim()})`);
    results.push(r);
  }
  sameTree(t, tree(tw.a), tree(tw.b), what);
  return results;
}

interface Done extends RunResult {
  endedAt: number;
}

/** Spawn `argv` asynchronously (no tap hooks); SIGKILLed at teardown if still alive. */
function start(t: Test, argv: string[], cwd: string): { child: ChildProcess; done: Promise<Done>; exited(): boolean } {
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited = false;
  const done = new Promise<Done>((resolve) => {
    child.on('exit', (status, signal) => {
      exited = true;
      const endedAt = performance.now();
      child.on('close', () => resolve({ status, signal, stdout, stderr, endedAt }));
    });
  });
  t.teardown(() => {
    if (!exited) child.kill('SIGKILL');
  });
  return { child, done, exited: () => exited };
}

async function waitFor(pred: () => boolean, timeoutMs = 60_000): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return pred();
}

function write(file: string, text: string, mode?: number, mtime?: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  if (mode !== undefined) fs.chmodSync(file, mode);
  if (mtime !== undefined) fs.utimesSync(file, mtime, mtime);
}

interface TreeJson {
  schema: number;
  kind: string;
  ok: boolean;
  exitCode: number;
  sources: string[];
  dest: string;
  mode: string;
  counts: { files: number; directories: number; symlinks: number; hardLinks: number; specials: number; skipped: number; failed: number };
  totalBytes: number;
  bytes: Record<string, number>;
  fallbacks: unknown[];
  errors: { path: string; code: string | null; message: string }[];
  interrupted: boolean;
  jobs: number;
  durationMs: number;
}

function parseJson(t: Test, stdout: string, what: string): TreeJson | null {
  try {
    return JSON.parse(stdout) as TreeJson;
  } catch (err) {
    t.fail(`${what}: stdout is one valid JSON document (${(err as Error).message}): ${stdout.slice(0, 200)}`);
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// -r and operands

/** A small tree with modes worth comparing and old times. */
function modesTree(root: string): void {
  const s = path.join(root, 'src');
  write(path.join(s, 'plain.txt'), 'plain\n', 0o644, T2000);
  write(path.join(s, 'private.txt'), 'private\n', 0o600, T2000);
  write(path.join(s, 'other-readable.txt'), 'o+r\n', 0o604, T2000);
  write(path.join(s, 'setuid'), '#!/bin/sh\n', 0o4755, T2000);
  write(path.join(s, 'setgid'), '#!/bin/sh\n', 0o2755, T2000);
  write(path.join(s, 'empty'), '', 0o666, T2000);
  write(path.join(s, 'sub', 'deep', 'data.bin'), randomBytes(300 * K).toString('latin1'), 0o640, T2000);
  fs.mkdirSync(path.join(s, 'emptydir'));
  fs.mkdirSync(path.join(s, 'sticky'));
  write(path.join(s, 'sticky', 'in'), 'in sticky\n', 0o644, T2000);
  fs.mkdirSync(path.join(s, 'setgid-dir'));
  write(path.join(s, 'setgid-dir', 'in'), 'in setgid\n', 0o644, T2000);
  fs.symlinkSync('plain.txt', path.join(s, 'link-to-plain'));
  fs.symlinkSync('sub/deep', path.join(s, 'link-to-dir'));
  fs.symlinkSync('nowhere', path.join(s, 'dangling'));
  const dirs: [string, number][] = [
    ['sub/deep', 0o755],
    ['sub', 0o750],
    ['emptydir', 0o777],
    ['sticky', 0o1777],
    ['setgid-dir', 0o2775],
    ['.', 0o755],
  ];
  for (const [d, mode] of dirs) {
    fs.chmodSync(path.join(s, d), mode);
    fs.utimesSync(path.join(s, d), T2000, T2000);
  }
}

t.test('-r without -a: modes less the umask, no setuid, new times (as cp -r)', async (t) => {
  const tw = twin(t, modesTree);
  const [r] = compareSteps(t, tw, [['-r', 'src', 'dst']], '-r src dst');
  t.equal(r!.stderr, '', 'nothing on stderr');
  // Explicitly, whatever cp does.
  const src = path.join(tw.b, 'src');
  const dst = path.join(tw.b, 'dst');
  for (const rel of ['plain.txt', 'private.txt', 'other-readable.txt', 'setuid', 'setgid', 'empty', 'sub/deep/data.bin']) {
    const s = fs.statSync(path.join(src, rel));
    const d = fs.statSync(path.join(dst, rel));
    t.equal(perm(d.mode), perm(s.mode & 0o777 & ~UMASK), `${rel}: mode ${perm(s.mode)} less umask, no setuid/setgid`);
    t.ok(d.mtimeMs > OLD_BEFORE, `${rel}: mtime not preserved`);
    t.equal(sha256(path.join(dst, rel)), sha256(path.join(src, rel)), `${rel}: same bytes`);
  }
  for (const rel of ['.', 'sub', 'sub/deep', 'emptydir', 'setgid-dir']) {
    const s = fs.statSync(path.join(src, rel));
    const d = fs.statSync(path.join(dst, rel));
    t.equal(perm(d.mode), perm(s.mode & 0o777 & ~UMASK), `directory ${rel}: mode ${perm(s.mode)} less umask`);
  }
  t.equal(
    perm(fs.statSync(path.join(dst, 'sticky')).mode),
    perm(0o1777 & ~UMASK),
    'sticky directory: mode 1777 less umask keeps the sticky bit (as cp -r)',
  );
  t.equal(fs.readlinkSync(path.join(dst, 'link-to-dir')), 'sub/deep', 'symlinks copied as symlinks (-r means -P)');
  t.equal(fs.readlinkSync(path.join(dst, 'dangling')), 'nowhere', 'a dangling symlink is copied as is');
});

t.test('trailing slashes and DEST missing or a directory (as cp -r)', async (t) => {
  const tw = twin(t, (root) => {
    write(path.join(root, 'src', 'a.txt'), 'a\n', 0o644, T2000);
    write(path.join(root, 'src', 'sub', 'b.txt'), 'b\n', 0o644, T2000);
    for (const d of ['exists1', 'exists2', 'exists3']) fs.mkdirSync(path.join(root, d));
  });
  compareSteps(
    t,
    tw,
    [
      ['-r', 'src', 'new1'], // made
      ['-r', 'src', 'exists1'], // exists1/src
      ['-r', 'src/', 'new2'], // made
      ['-r', 'src/', 'exists2'], // exists2/src
      ['-r', 'src', 'new3/'], // made
      ['-r', 'src/', 'exists3/'], // exists3/src
    ],
    'trailing slashes',
  );
  t.ok(fs.existsSync(path.join(tw.b, 'new1', 'sub', 'b.txt')), 'src copied to a missing DEST is DEST');
  t.ok(fs.existsSync(path.join(tw.b, 'exists1', 'src', 'sub', 'b.txt')), 'src copied to an existing directory is DEST/src');
  t.ok(fs.existsSync(path.join(tw.b, 'new2', 'a.txt')), "'src/' to a missing DEST is DEST");
  t.ok(fs.existsSync(path.join(tw.b, 'exists2', 'src', 'a.txt')), "'src/' to an existing directory is DEST/src");
  t.ok(fs.existsSync(path.join(tw.b, 'new3', 'a.txt')), "'DEST/' missing is made");
  t.ok(fs.existsSync(path.join(tw.b, 'exists3', 'src', 'a.txt')), "'src/' to 'DEST/' existing is DEST/src");
});

t.test('several sources into a directory, -t DIR, -T (as cp)', async (t) => {
  const tw = twin(t, (root) => {
    write(path.join(root, 'd1', 'x.txt'), 'x\n', 0o644, T2000);
    write(path.join(root, 'd1', 'in', 'y.txt'), 'y\n', 0o640, T2000);
    write(path.join(root, 'd2', 'z.txt'), 'z\n', 0o600, T2000);
    write(path.join(root, 'f.txt'), 'f\n', 0o644, T2000);
    fs.symlinkSync('f.txt', path.join(root, 'flink'));
    fs.mkdirSync(path.join(root, 'many'));
    fs.mkdirSync(path.join(root, 'target'));
    // -T merges into an existing directory: a file already there stays, another is replaced.
    write(path.join(root, 'merge', 'keep.txt'), 'keep\n', 0o644, T2010);
    write(path.join(root, 'merge', 'x.txt'), 'old x\n', 0o600, T2010);
    fs.utimesSync(path.join(root, 'merge'), T2010, T2010);
  });
  compareSteps(
    t,
    tw,
    [
      ['-r', 'd1', 'd2', 'f.txt', 'flink', 'many'],
      ['-r', '-t', 'target', 'd1', 'f.txt'],
      ['--target-directory=target', 'd2/z.txt'],
      ['-r', '-T', 'd1', 'merge'],
      ['-rT', 'd2', 'newT'],
      ['-T', 'f.txt', 'newfile'],
    ],
    'several sources, -t, -T',
  );
  const b = tw.b;
  t.same(fs.readdirSync(path.join(b, 'many')).sort(), ['d1', 'd2', 'f.txt', 'flink'], 'every source lands in the directory');
  t.ok(fs.lstatSync(path.join(b, 'many', 'flink')).isSymbolicLink(), '-r copies a symlink operand as a symlink');
  t.same(fs.readdirSync(path.join(b, 'target')).sort(), ['d1', 'f.txt', 'z.txt'], '-t DIR takes every operand as a source');
  t.same(fs.readdirSync(path.join(b, 'merge')).sort(), ['in', 'keep.txt', 'x.txt'], '-T merges the contents, no merge/d1');
  t.equal(fs.readFileSync(path.join(b, 'merge', 'x.txt'), 'utf8'), 'x\n', '-T: the file in both is replaced');
  t.equal(fs.readFileSync(path.join(b, 'merge', 'keep.txt'), 'utf8'), 'keep\n', "-T: DEST's own file stays");
  t.same(fs.readdirSync(path.join(b, 'newT')), ['z.txt'], '-T onto a missing name makes it');
});

// ---------------------------------------------------------------------------------------
// -n, -u, --update

/**
 * src, and an existing copy of it at dst/src (where `-r src dst` writes) with files older,
 * newer and as old as SOURCE's. (Not -T: see the -T test.)
 */
function updateTree(root: string): void {
  const s = path.join(root, 'src');
  const d = path.join(root, 'dst', 'src');
  write(path.join(s, 'dest-older.txt'), 'new content\n', 0o644, T2020);
  write(path.join(d, 'dest-older.txt'), 'old content, longer than the new one\n', 0o600, T2000);
  write(path.join(s, 'dest-newer.txt'), 'source content\n', 0o644, T2000);
  write(path.join(d, 'dest-newer.txt'), 'newer dest content\n', 0o600, T2020);
  write(path.join(s, 'same-time.txt'), 'source same\n', 0o644, T2010);
  write(path.join(d, 'same-time.txt'), 'dest same\n', 0o600, T2010);
  write(path.join(s, 'only-src.txt'), 'only in src\n', 0o640, T2010);
  write(path.join(d, 'only-dst.txt'), 'only in dst\n', 0o644, T2010);
  write(path.join(s, 'sub', 'deep-older.txt'), 'sub new\n', 0o644, T2020);
  write(path.join(d, 'sub', 'deep-older.txt'), 'sub old\n', 0o644, T2000);
  write(path.join(s, 'sub', 'deep-new.txt'), 'deep new\n', 0o644, T2020);
  fs.symlinkSync('same-time.txt', path.join(s, 'link'));
  fs.symlinkSync('dest-newer.txt', path.join(d, 'link'));
  for (const dir of [path.join(s, 'sub'), s, path.join(d, 'sub'), d, path.dirname(d)]) fs.utimesSync(dir, T2010, T2010);
}
const EXISTING = ['dest-older.txt', 'dest-newer.txt', 'same-time.txt', 'only-dst.txt', 'sub/deep-older.txt'];

t.test('-n: existing files untouched, content and inode (as cp -n)', async (t) => {
  const tw = twin(t, updateTree);
  const dst = path.join(tw.b, 'dst', 'src');
  const before = tree(dst);
  const ino = inodes(dst, [...EXISTING, 'link']);
  compareSteps(t, tw, [['-r', '-n', 'src', 'dst']], '-rn src dst');
  const after = tree(dst);
  for (const rel of [...EXISTING, 'link']) t.equal(after[rel], before[rel], `${rel}: content, mode and mtime untouched`);
  t.same(inodes(dst, [...EXISTING, 'link']), ino, 'every existing file keeps its inode');
  t.equal(fs.existsSync(path.join(dst, 'only-src.txt')) && fs.readFileSync(path.join(dst, 'only-src.txt'), 'utf8'), 'only in src\n', 'a missing file is copied');
  t.equal(fs.existsSync(path.join(dst, 'sub', 'deep-new.txt')) && fs.readFileSync(path.join(dst, 'sub', 'deep-new.txt'), 'utf8'), 'deep new\n', 'a missing file in a subdirectory is copied');
  t.same(tempNames(tw.b), [], 'no temporary file left');
});

t.test('-u: only older DEST files replaced (as cp -u)', async (t) => {
  const tw = twin(t, updateTree);
  const dst = path.join(tw.b, 'dst', 'src');
  const kept = ['dest-newer.txt', 'same-time.txt', 'only-dst.txt'];
  const before = tree(dst);
  const ino = inodes(dst, kept);
  compareSteps(t, tw, [['-r', '-u', 'src', 'dst']], '-ru src dst');
  const after = tree(dst);
  t.equal(fs.readFileSync(path.join(dst, 'dest-older.txt'), 'utf8'), 'new content\n', 'an older DEST is replaced');
  t.equal(fs.readFileSync(path.join(dst, 'sub', 'deep-older.txt'), 'utf8'), 'sub new\n', 'an older DEST in a subdirectory is replaced');
  t.equal(perm(fs.statSync(path.join(dst, 'dest-older.txt')).mode), '0600', 'the replaced file keeps its own mode');
  for (const rel of kept) t.equal(after[rel], before[rel], `${rel}: untouched`);
  t.same(inodes(dst, kept), ino, 'files kept keep their inode');
  t.equal(fs.existsSync(path.join(dst, 'only-src.txt')) && fs.readFileSync(path.join(dst, 'only-src.txt'), 'utf8'), 'only in src\n', 'a missing file is copied');
  t.same(tempNames(tw.b), [], 'no temporary file left');
  // The long spellings: bare --update and --update=older are -u.
  for (const opt of ['--update', '--update=older']) {
    const tw2 = twin(t, updateTree);
    const c = cp(['-r', '-u', 'src', 'dst'], tw2.a);
    const r = ts(['-r', opt, 'src', 'dst'], tw2.b);
    t.equal(r.status, c.status, `${opt}: exit ${c.status} (${r.stderr.trim()})`);
    sameTree(t, tree(tw2.a), tree(tw2.b), `${opt} vs cp -u`);
  }
});

t.test('--update=none (cp 9.1: -n) and --update=all (cp 9.1: no option)', async (t) => {
  {
    const tw = twin(t, updateTree);
    const dst = path.join(tw.b, 'dst', 'src');
    const before = tree(dst);
    const ino = inodes(dst, EXISTING);
    const c = cp(['-r', '-n', 'src', 'dst'], tw.a);
    const r = ts(['-r', '--update=none', 'src', 'dst'], tw.b);
    t.equal(r.status, 0, `--update=none: exit 0 (${r.stderr.trim()})`);
    t.equal(c.status, 0, 'cp -n: exit 0');
    sameTree(t, tree(tw.a), tree(tw.b), '--update=none vs cp -n');
    const after = tree(dst);
    for (const rel of EXISTING) t.equal(after[rel], before[rel], `--update=none: ${rel} untouched`);
    t.same(inodes(dst, EXISTING), ino, '--update=none: existing files keep their inode');
    t.ok(fs.existsSync(path.join(dst, 'only-src.txt')), '--update=none: a missing file is copied');
  }
  {
    const tw = twin(t, updateTree);
    const dst = path.join(tw.b, 'dst', 'src');
    const c = cp(['-r', 'src', 'dst'], tw.a);
    const r = ts(['-r', '--update=all', 'src', 'dst'], tw.b);
    t.equal(r.status, 0, `--update=all: exit 0 (${r.stderr.trim()})`);
    t.equal(c.status, 0, 'cp: exit 0');
    sameTree(t, tree(tw.a), tree(tw.b), '--update=all vs cp');
    for (const rel of ['dest-older.txt', 'dest-newer.txt', 'same-time.txt', 'sub/deep-older.txt']) {
      t.equal(sha256(path.join(dst, rel)), sha256(path.join(tw.b, 'src', rel)), `--update=all: ${rel} replaced, newer or not`);
    }
    t.equal(fs.readFileSync(path.join(dst, 'only-dst.txt'), 'utf8'), 'only in dst\n', "--update=all: DEST's own file stays");
  }
});

// ---------------------------------------------------------------------------------------
// Symlinks

t.test('-P, -L, -H with a symlink operand and symlinks inside the tree (as cp)', async (t) => {
  const tw = twin(t, (root) => {
    write(path.join(root, 'outside.txt'), 'outside\n', 0o644, T2000);
    write(path.join(root, 'data', 'f.txt'), 'f\n', 0o640, T2000);
    write(path.join(root, 'data', 'sub', 'g.txt'), 'g\n', 0o644, T2000);
    fs.symlinkSync('f.txt', path.join(root, 'data', 'lnf'));
    fs.symlinkSync('sub', path.join(root, 'data', 'lnd'));
    fs.symlinkSync('../outside.txt', path.join(root, 'data', 'lnout'));
    fs.symlinkSync('data', path.join(root, 'opdir'));
    fs.symlinkSync('data/f.txt', path.join(root, 'opfile'));
    for (const d of ['data/sub', 'data']) fs.utimesSync(path.join(root, d), T2000, T2000);
  });
  compareSteps(
    t,
    tw,
    [
      ['-r', '-P', 'opdir', 'P-opdir'],
      ['-r', '-L', 'opdir', 'L-opdir'],
      ['-r', '-H', 'opdir', 'H-opdir'],
      ['-r', 'opdir', 'r-opdir'],
      ['-r', '-P', 'data', 'P-data'],
      ['-r', '-L', 'data', 'L-data'],
      ['-r', '-H', 'data', 'H-data'],
      ['-P', 'opfile', 'P-opfile'],
      ['-L', 'opfile', 'L-opfile'],
      ['-H', 'opfile', 'H-opfile'],
      ['opfile', 'plain-opfile'],
      ['-r', 'opfile', 'r-opfile'],
      ['-r', '-L', '-P', 'opdir', 'LP-opdir'], // the last wins
      ['-r', '-P', '-L', 'opdir', 'PL-opdir'],
    ],
    'symlink options',
  );
  const b = tw.b;
  t.ok(fs.lstatSync(path.join(b, 'P-opdir')).isSymbolicLink(), '-P: a symlink operand is copied as a symlink');
  t.ok(fs.lstatSync(path.join(b, 'r-opdir')).isSymbolicLink(), '-r alone: a symlink operand is copied as a symlink');
  t.ok(fs.lstatSync(path.join(b, 'L-opdir')).isDirectory(), '-L: a symlink operand is followed');
  t.ok(fs.lstatSync(path.join(b, 'L-opdir', 'lnd')).isDirectory(), '-L: a symlink to a directory inside becomes a directory');
  t.ok(fs.lstatSync(path.join(b, 'L-opdir', 'lnout')).isFile(), '-L: a symlink to a file inside becomes a file');
  t.ok(fs.lstatSync(path.join(b, 'H-opdir')).isDirectory(), '-H: a symlink operand is followed');
  t.ok(fs.lstatSync(path.join(b, 'H-opdir', 'lnd')).isSymbolicLink(), '-H: symlinks inside stay symlinks');
  t.ok(fs.lstatSync(path.join(b, 'P-data', 'lnf')).isSymbolicLink(), '-P: symlinks inside stay symlinks');
  t.ok(fs.lstatSync(path.join(b, 'P-opfile')).isSymbolicLink(), '-P without -r: a file symlink operand is copied as a symlink');
  t.ok(fs.lstatSync(path.join(b, 'plain-opfile')).isFile(), 'no option, no -r: a file symlink operand is followed');
  t.ok(fs.lstatSync(path.join(b, 'LP-opdir')).isSymbolicLink(), '-L -P: the last (-P) wins');
  t.ok(fs.lstatSync(path.join(b, 'PL-opdir')).isDirectory(), '-P -L: the last (-L) wins');
});

// ---------------------------------------------------------------------------------------
// Refusals and usage errors

t.test('a directory into itself is refused before anything is written (cp: same status and message)', async (t) => {
  // cp refuses too, but only once it meets its own copy: it has written a first level by
  // then. tscp refuses before writing, so only cp's exit status and message are compared.
  const tw = twin(t, (root) => {
    write(path.join(root, 'a', 'f.txt'), 'f\n', 0o644, T2000);
    write(path.join(root, 'a', 'b', 'g.txt'), 'g\n', 0o644, T2000);
    for (const d of ['a/b', 'a']) fs.utimesSync(path.join(root, d), T2000, T2000);
  });
  const before = tree(tw.b);
  const cases: [string[], string][] = [
    [['-r', 'a', 'a/new'], 'a/new'],
    [['-r', 'a', 'a'], 'a/a'],
    [['-r', 'a', 'a/b'], 'a/b/a'],
    [['-r', 'a/', 'a/b/c/'], 'a/b/c/'],
    [['-r', 'a', 'a/b/../new2'], 'a/b/../new2'],
  ];
  for (const [args, target] of cases) {
    const what = args.join(' ');
    const c = cp(args, tw.a);
    const r = ts(args, tw.b);
    t.equal(r.status, 1, `${what}: exit 1 (cp: ${c.status})`);
    t.equal(r.status, c.status, `${what}: cp's exit status`);
    t.equal(r.stderr, `tscp: cannot copy a directory, '${args[1]}', into itself, '${target}'\n`, `${what}: one line: ${r.stderr.trim()}`);
    t.equal(c.stderr.replace(/^cp: /, ''), r.stderr.replace(/^tscp: /, ''), `${what}: cp's message (${c.stderr.trim()})`);
    t.same(treeDiff(before, tree(tw.b), 'before', 'after'), [], `${what}: nothing was created or changed`);
  }
});

t.test('a directory without -r is omitted, the others copied, exit 1 (as cp)', async (t) => {
  const tw = twin(t, (root) => {
    write(path.join(root, 'dir', 'f.txt'), 'f\n', 0o644, T2000);
    write(path.join(root, 'one.txt'), 'one\n', 0o644, T2000);
    write(path.join(root, 'two.txt'), 'two\n', 0o600, T2000);
    fs.mkdirSync(path.join(root, 'out'));
    fs.utimesSync(path.join(root, 'dir'), T2000, T2000);
  });
  const [r, r1] = compareSteps(t, tw, [['one.txt', 'dir', 'two.txt', 'out'], ['dir', 'solo']], 'no -r');
  t.equal(r!.status, 1, 'exit 1');
  t.equal(r!.stderr, "tscp: -r not specified; omitting directory 'dir'\n", `one line: ${r!.stderr.trim()}`);
  t.same(fs.readdirSync(path.join(tw.b, 'out')).sort(), ['one.txt', 'two.txt'], 'the files were copied, the directory not');
  t.equal(r1!.status, 1, 'one directory operand: exit 1');
  t.match(r1!.stderr, /^tscp: -r not specified; omitting directory 'dir'\n$/, `one directory operand: ${r1!.stderr.trim()}`);
  t.notOk(fs.existsSync(path.join(tw.b, 'solo')), 'one directory operand: nothing made');
});

t.test('several sources onto a non-directory: exit 2, nothing touched', async (t) => {
  const tw = twin(t, (root) => {
    write(path.join(root, 'one.txt'), 'one\n', 0o644, T2000);
    write(path.join(root, 'two.txt'), 'two\n', 0o644, T2000);
    write(path.join(root, 'dir', 'f.txt'), 'f\n', 0o644, T2000);
    write(path.join(root, 'file'), 'an existing file\n', 0o644, T2000);
    fs.utimesSync(path.join(root, 'dir'), T2000, T2000);
  });
  const before = tree(tw.b);
  // cp says 1 here; tscp treats it as a usage error.
  const results = compareSteps(
    t,
    tw,
    [
      { args: ['one.txt', 'two.txt', 'file'], status: 2 },
      { args: ['-r', 'dir', 'one.txt', 'missing'], status: 2 },
      { args: ['-r', 'dir', 'one.txt', 'file'], status: 2 },
    ],
    'several sources onto a non-directory',
  );
  t.same(treeDiff(before, tree(tw.b), 'before', 'after'), [], 'nothing touched');
  t.match(results[0]!.stderr, /^tscp: target 'file' is not a directory\n/, `message: ${results[0]!.stderr.split('\n')[0]}`);
  t.match(results[1]!.stderr, /^tscp: target 'missing' is not a directory\n/, `message: ${results[1]!.stderr.split('\n')[0]}`);
  t.match(results[2]!.stderr, /^tscp: target 'file' is not a directory\n/, `message: ${results[2]!.stderr.split('\n')[0]}`);
  const j = ts(['--json', 'one.txt', 'two.txt', 'file'], tw.b);
  t.equal(j.status, 2, '--json: exit 2');
  const doc = parseJson(t, j.stdout, '--json');
  if (doc) {
    t.equal(doc.ok, false, '--json: ok false');
    t.equal(doc.exitCode, 2, '--json: exitCode 2');
  }
  t.same(treeDiff(before, tree(tw.b), 'before', 'after'), [], '--json: nothing touched');
});

t.test("cp's -l/-s/-d letters and range options with trees: exit 2 with cp's meaning", async (t) => {
  const dir = scratchDir(t);
  write(path.join(dir, 'a'), 'a file\n', 0o644, T2000);
  write(path.join(dir, 'b'), 'b file\n', 0o644, T2000);
  write(path.join(dir, 'd', 'f'), 'f\n', 0o644, T2000);
  fs.mkdirSync(path.join(dir, 'into'));
  for (const d of ['d', 'into']) fs.utimesSync(path.join(dir, d), T2000, T2000);
  const cases: [string[], RegExp[]][] = [
    [['-l', 'a', 'b'], [/-l is --length/, /\bln\b/]],
    [['-l', 'a', 'new'], [/-l is --length/, /\bln\b/]],
    [['-s', 'a', 'b'], [/-s is --src-offset/, /ln -s/]],
    [['-d', 'a', 'b'], [/-d is --dst-offset/, /-P --preserve=links/]],
    [['-r', '-l', '4K', 'd', 'new'], [/byte range/, /ln -s/, /-P --preserve=links/, /\bln\)/]],
    [['-a', '-s', '0', 'd', 'new'], [/byte range/, /ln -s/]],
    [['-s', '0', 'a', 'b', 'into'], [/several sources/, /ln -s/]],
    [['-l', '1', 'a', 'b', 'into'], [/several sources/, /\bln\b/]],
    [['-t', 'into', '-d', '4', 'a'], [/-t/, /-P --preserve=links/]],
    [['--preserve=mode', '-l', '1', 'a', 'new'], [/--preserve/, /\bln\b/]],
    [['-p', '-d', '0', 'a', 'new'], [/byte range/, /-P --preserve=links/]],
  ];
  const before = tree(dir);
  for (const [args, wants] of cases) {
    const r = tscp(args, { cwd: dir });
    const what = args.join(' ');
    t.equal(r.status, 2, `${what}: exit 2`);
    t.match(r.stderr, /^tscp: /, `${what}: a tscp: message (${r.stderr.split('\n')[0]})`);
    for (const w of wants) t.match(r.stderr, w, `${what}: the message says ${w}`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
  }
  t.same(treeDiff(before, tree(dir), 'before', 'after'), [], 'nothing touched by any of them');
});

// ---------------------------------------------------------------------------------------
// Partial failure as an unprivileged user

const UID = 1234;
const asUser = (args: string[], cwd: string, cmd: string[] = ['env', '-u', 'NODE_OPTIONS', process.execPath, BIN]): RunResult =>
  run('setpriv', ['--reuid', String(UID), '--regid', String(UID), '--clear-groups', ...cmd, ...args], { cwd, env: { ...cleanEnv(), LC_ALL: 'C' } });

/** The same bytes in both copies of the locked tree. */
const G_BIN = randomBytes(200 * K).toString('latin1');

/** A tree with a 000 directory and a 000 file, readable by anyone otherwise; `out` owned by UID. */
function lockedTree(root: string): void {
  fs.chmodSync(root, 0o755);
  const s = path.join(root, 'src');
  write(path.join(s, 'top.txt'), 'top\n', 0o644, T2000);
  write(path.join(s, 'locked-file'), 'secret\n', 0o644, T2000);
  write(path.join(s, 'ok', 'f.txt'), 'f\n', 0o644, T2000);
  write(path.join(s, 'ok', 'deep', 'g.bin'), G_BIN, 0o644, T2000);
  write(path.join(s, 'ok', 'deep', 'h.txt'), 'h\n', 0o604, T2000);
  write(path.join(s, 'locked-dir', 'inside.txt'), 'inside\n', 0o644, T2000);
  write(path.join(s, 'locked-dir', 'sub', 'more.txt'), 'more\n', 0o644, T2000);
  write(path.join(s, 'z-last.txt'), 'last\n', 0o644, T2000);
  fs.symlinkSync('top.txt', path.join(s, 'link'));
  for (const d of ['ok/deep', 'ok', 'locked-dir/sub', 'locked-dir', '.']) fs.chmodSync(path.join(s, d), 0o755);
  fs.chmodSync(path.join(s, 'locked-file'), 0o000);
  fs.chmodSync(path.join(s, 'locked-dir'), 0o000);
  fs.mkdirSync(path.join(root, 'out'));
  fs.chownSync(path.join(root, 'out'), UID, UID);
}
const COPYABLE = ['top.txt', 'ok/f.txt', 'ok/deep/g.bin', 'ok/deep/h.txt', 'z-last.txt'];

function setprivReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to run as another uid';
  if (run('setpriv', ['--version']).status !== 0) return 'setpriv is not installed';
  return null;
}

t.test(`as uid ${UID}: a 000 directory and a 000 file fail, the rest is copied (as cp -r)`, async (t) => {
  if (!mayRun(t, setprivReason())) return;
  const dir = scratchDir(t);
  fs.chmodSync(dir, 0o755);
  // The scratch parent must be traversable by the other uid.
  const parent = path.dirname(dir);
  if ((fs.statSync(parent).mode & 0o001) === 0) fs.chmodSync(parent, fs.statSync(parent).mode | 0o005);
  const tw = { a: path.join(dir, 'cp'), b: path.join(dir, 'tscp') };
  for (const root of [tw.a, tw.b]) {
    fs.mkdirSync(root);
    lockedTree(root);
  }
  const c = asUser(['-r', 'src', 'out/copy'], tw.a, ['cp']);
  const r = asUser(['-r', 'src', 'out/copy'], tw.b);
  t.equal(c.status, 1, `cp exits 1 (${c.stderr.trim().replace(/\n/g, ' | ')})`);
  t.equal(r.status, 1, 'tscp exits 1');
  sameTree(t, tree(path.join(tw.a, 'out')), tree(path.join(tw.b, 'out')), 'as uid 1234');
  const out = path.join(tw.b, 'out', 'copy');
  for (const rel of COPYABLE) {
    t.equal(fs.existsSync(path.join(out, rel)) && sha256(path.join(out, rel)), sha256(path.join(tw.b, 'src', rel)), `${rel} copied`);
  }
  t.equal(fs.existsSync(path.join(out, 'link')) && fs.readlinkSync(path.join(out, 'link')), 'top.txt', 'the symlink copied');
  t.notOk(fs.existsSync(path.join(out, 'locked-file')), 'no locked-file in DEST');
  t.same(fs.existsSync(path.join(out, 'locked-dir')) ? fs.readdirSync(path.join(out, 'locked-dir')) : [], [], 'nothing of locked-dir\'s contents in DEST');
  const lines = r.stderr.split('\n').filter(Boolean);
  t.equal(lines.length, 2, `two lines on stderr, one per failing path:\n${r.stderr}`);
  const fileLine = lines.find((l) => l.includes("'src/locked-file'"));
  const dirLine = lines.find((l) => l.includes("'src/locked-dir'"));
  t.match(fileLine, /^tscp: .*'src\/locked-file'.*\(EACCES\)$/, `a line names src/locked-file and EACCES: ${fileLine}`);
  t.match(dirLine, /^tscp: .*'src\/locked-dir'.*\(EACCES\)$/, `a line names src/locked-dir and EACCES: ${dirLine}`);
  t.same(tempNames(out), [], 'no temporary file left');

  // --json: the same run, reported.
  const j = asUser(['--json', '-r', 'src', 'out/json'], tw.b);
  t.equal(j.status, 1, '--json: exit 1');
  const doc = parseJson(t, j.stdout, '--json');
  if (doc) {
    t.equal(doc.schema, 1, 'schema 1');
    t.equal(doc.kind, 'tree', "kind 'tree'");
    t.equal(doc.ok, false, 'ok false');
    t.equal(doc.exitCode, 1, 'exitCode 1');
    t.same(doc.sources, ['src'], 'sources');
    t.equal(doc.dest, 'out/json', 'dest');
    t.same(doc.errors.map((e) => e.path).sort(), ['src/locked-dir', 'src/locked-file'], 'errors: exactly the two failing paths');
    for (const e of doc.errors) {
      t.equal(e.code, 'EACCES', `${e.path}: code EACCES`);
      t.ok(e.message.includes(`'${e.path}'`) && e.message.endsWith('(EACCES)'), `${e.path}: the message names it and EACCES: ${e.message}`);
    }
    t.equal(doc.counts.files, COPYABLE.length, `counts.files ${COPYABLE.length}`);
    t.equal(doc.counts.symlinks, 1, 'counts.symlinks 1');
    t.equal(doc.counts.directories, 3, 'counts.directories 3 (src, ok, ok/deep)');
    t.equal(doc.counts.failed, 2, 'counts.failed 2');
    t.equal(doc.counts.failed, doc.errors.length, 'counts.failed equals the errors listed');
    t.equal(doc.counts.skipped + doc.counts.hardLinks + doc.counts.specials, 0, 'nothing skipped, linked or special');
    const copied = COPYABLE.reduce((n, rel) => n + fs.statSync(path.join(tw.b, 'src', rel)).size, 0);
    const moved = ['reflinked', 'copyFileRange', 'sendfile', 'readWrite'].reduce((n, k) => n + (doc.bytes[k] ?? 0), 0);
    t.equal(moved, copied, `bytes by method add up to the copied files' ${copied} bytes`);
    t.equal(doc.interrupted, false, 'not interrupted');
    t.same(tree(path.join(tw.b, 'out', 'json')), tree(path.join(tw.b, 'out', 'copy')), '--json run copied the same tree');
  }
});

/** SOURCE and an existing DEST that conflict: a file where SOURCE has a directory and back. */
function conflictsTree(root: string): void {
  write(path.join(root, 'src', 'a.txt'), 'a\n', 0o644, T2000);
  write(path.join(root, 'src', 'was-dir', 'x.txt'), 'x\n', 0o644, T2000);
  write(path.join(root, 'src', 'was-file'), 'file in src\n', 0o644, T2000);
  write(path.join(root, 'src', 'ok', 'y.txt'), 'y\n', 0o644, T2000);
  fs.symlinkSync('a.txt', path.join(root, 'src', 'ln'));
  write(path.join(root, 'dst', 'src', 'was-dir'), 'a file in dst\n', 0o644, T2000);
  write(path.join(root, 'dst', 'src', 'was-file', 'keep.txt'), 'keep\n', 0o644, T2000);
  for (const d of ['src/was-dir', 'src/ok', 'src', 'dst/src/was-file', 'dst/src', 'dst']) fs.utimesSync(path.join(root, d), T2000, T2000);
}

t.test('--json with a partial failure as root: DEST conflicts (as cp -r)', async (t) => {
  const tw = twin(t, conflictsTree);
  const [r] = compareSteps(t, tw, [['-r', 'src', 'dst']], 'conflicts');
  t.equal(r!.status, 1, 'exit 1');
  t.equal(r!.stderr.split('\n').filter(Boolean).length, 2, `one line per failing path:\n${r!.stderr}`);
  // The same with --json, on a fresh copy of the input.
  const fresh = twin(t, conflictsTree);
  const j = ts(['--json', '-r', 'src', 'dst'], fresh.b);
  t.equal(j.status, 1, '--json: exit 1');
  t.equal(j.stderr.split('\n').filter(Boolean).length, 2, '--json: the two error lines still on stderr');
  sameTree(t, tree(tw.b), tree(fresh.b), '--json run', 'plain run', '--json run');
  const doc = parseJson(t, j.stdout, '--json');
  if (doc) {
    t.equal(doc.ok, false, 'ok false');
    t.equal(doc.exitCode, 1, 'exitCode 1');
    // Each error names the conflicting entry: its SOURCE or its DEST path.
    t.same(
      doc.errors.map((e) => e.path.replace(/^(dst\/)?src\//, '')).sort(),
      ['was-dir', 'was-file'],
      `errors: exactly the two conflicting entries (${doc.errors.map((e) => e.path).join(', ')})`,
    );
    for (const e of doc.errors) t.ok(['src/', 'dst/src/'].some((p) => e.path === p + path.basename(e.path)), `${e.path}: SOURCE's or DEST's path`);
    for (const e of doc.errors) {
      t.ok(typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code), `${e.path}: an errno name (${e.code})`);
      t.ok(typeof e.message === 'string' && e.message.includes(`'${e.path}'`), `${e.path}: the message names it: ${e.message}`);
    }
    t.equal(doc.counts.files, 2, 'counts.files 2 (a.txt, ok/y.txt)');
    t.equal(doc.counts.symlinks, 1, 'counts.symlinks 1');
    t.equal(doc.counts.directories, 2, 'counts.directories 2 (src, ok)');
    t.equal(doc.counts.failed, 2, 'counts.failed 2');
    t.equal(doc.counts.failed, doc.errors.length, 'counts.failed equals the errors listed');
    t.equal(doc.totalBytes, 2 + 2 + 12, 'totalBytes: every regular file seen (a.txt, ok/y.txt, was-file)');
  }
});

// ---------------------------------------------------------------------------------------
// Filesystems: one 3 GiB tmpfs (SOURCE of the big tree, and a mount inside a SOURCE for -x),
// one XFS (DEST of the interrupted copies).

const mem = mountFs(t, 'tmpfs', 3 * 1024);
const xfs = mountFs(t, 'xfs', 2560);

t.test('-x: a tmpfs mounted inside SOURCE is made empty, not entered (as cp -x)', async (t) => {
  if (!mem) return;
  // mountFs's base directory holds only the mount point: make it the SOURCE tree.
  const base = path.dirname(mem);
  fs.chmodSync(mem, 0o755);
  write(path.join(mem, 'on-tmpfs.txt'), 'must not be copied\n', 0o644, T2000);
  fs.mkdirSync(path.join(mem, 'tmpfs-dir'), { recursive: true });
  write(path.join(base, 'top.txt'), 'top\n', 0o644, T2000);
  write(path.join(base, 'sub', 'in.txt'), 'in\n', 0o640, T2000);
  fs.symlinkSync('mnt/on-tmpfs.txt', path.join(base, 'link-into-mount'));
  const dir = scratchDir(t);
  const c = cp(['-r', '-x', base, path.join(dir, 'cp')], dir);
  const r = ts(['-r', '-x', base, path.join(dir, 'tscp')], dir);
  t.equal(c.status, 0, `cp -x: exit 0 ${c.stderr}`);
  t.equal(r.status, 0, `tscp -x: exit 0 ${r.stderr}`);
  sameTree(t, tree(path.join(dir, 'cp')), tree(path.join(dir, 'tscp')), '-x');
  const mnt = path.join(dir, 'tscp', 'mnt');
  t.ok(fs.existsSync(mnt) && fs.statSync(mnt).isDirectory(), 'the mount point is made as a directory');
  t.same(fs.existsSync(mnt) ? fs.readdirSync(mnt) : null, [], 'and it is empty');
  t.equal(fs.readFileSync(path.join(dir, 'tscp', 'sub', 'in.txt'), 'utf8'), 'in\n', 'the rest of SOURCE is copied');
  // Without -x the mount's contents are copied.
  const all = ts(['-r', base, path.join(dir, 'all')], dir);
  t.equal(all.status, 0, 'without -x: exit 0');
  t.ok(fs.existsSync(path.join(dir, 'all', 'mnt', 'on-tmpfs.txt')), 'without -x the mounted filesystem is entered');
  for (const f of ['top.txt', 'sub', 'link-into-mount', 'mnt/on-tmpfs.txt', 'mnt/tmpfs-dir']) fs.rmSync(path.join(base, f), { recursive: true, force: true });
});

const BIG_FILES = 12;
const BIG_SIZE = 150 * M;
let bigTree: { dir: string; sha: Map<string, string> } | null = null;

/** 12 files of 150 MiB on the tmpfs, each distinct and incompressible; sha256 of each. */
function makeBigTree(): { dir: string; sha: Map<string, string> } {
  if (bigTree) return bigTree;
  const dir = path.join(mem!, 'big');
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  const block = randomBytes(16 * M);
  const sha = new Map<string, string>();
  for (let i = 0; i < BIG_FILES; i++) {
    const rel = i % 3 === 2 ? path.join('sub', `f${String(i).padStart(2, '0')}.bin`) : `f${String(i).padStart(2, '0')}.bin`;
    const fd = fs.openSync(path.join(dir, rel), 'w');
    const h = createHash('sha256');
    for (let off = 0; off < BIG_SIZE; off += block.length) {
      const n = Math.min(block.length, BIG_SIZE - off);
      block.writeUInt32LE(i, 0);
      block.writeUInt32LE(off / block.length, 4);
      const piece = block.subarray(0, n);
      fs.writeSync(fd, piece);
      h.update(piece);
    }
    fs.closeSync(fd);
    sha.set(rel, h.digest('hex'));
  }
  bigTree = { dir, sha };
  return bigTree;
}

/** Regular files under `root` (relative paths). */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? path.join(rel, e.name) : e.name;
      if (e.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  if (fs.existsSync(root)) walk('');
  return out.sort();
}

for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as [NodeJS.Signals, number][]) {
  t.test(`${sig} during a tree of ${BIG_FILES} x 150 MiB: exit ${code} within 0.5 s, no partial or temporary file`, async (t) => {
    if (!mem || !xfs) return;
    const big = makeBigTree();
    const caseDir = fs.mkdtempSync(path.join(xfs, `${sig}-`));
    const out = path.join(caseDir, 'out');
    const free0 = fs.statfsSync(xfs).bfree * fs.statfsSync(xfs).bsize;
    const used = (): number => free0 - fs.statfsSync(xfs).bfree * fs.statfsSync(xfs).bsize;
    const proc = start(t, ['env', '-u', 'NODE_OPTIONS', process.execPath, BIN, '-r', '--copy', big.dir, out], caseDir);
    // SIGINT once a first file is complete (others are mid-copy); SIGTERM as soon as
    // 64 MiB have been written (most likely before any file is complete).
    const underWay =
      sig === 'SIGINT'
        ? () => proc.exited() || filesUnder(out).length > 0
        : () => proc.exited() || used() > 64 * M;
    t.ok(await waitFor(underWay), 'the copy got under way');
    t.notOk(proc.exited(), 'tscp is still copying when the signal is sent');
    if (proc.exited()) {
      t.comment(JSON.stringify(await proc.done));
      return;
    }
    const presentAtSignal = filesUnder(out).length;
    const killedAt = performance.now();
    proc.child.kill(sig);
    const r = await proc.done;
    const ms = r.endedAt - killedAt;
    t.comment(`${sig}: exit ${r.status}/${r.signal} after ${ms.toFixed(0)} ms; ${presentAtSignal} files complete at the signal; ${r.stderr.trim()}`);
    t.equal(r.status, code, `exit ${code}`);
    t.ok(ms < STOP_WITHIN_MS, `stopped within ${STOP_WITHIN_MS} ms of the signal (took ${ms.toFixed(0)} ms)`);
    t.match(r.stderr, new RegExp(`interrupted by ${sig}`), 'stderr says it was interrupted');
    const present = filesUnder(out);
    t.ok(present.length < BIG_FILES, `the copy was cut short (${present.length} of ${BIG_FILES} files)`);
    for (const rel of present) {
      const p = path.join(out, rel);
      t.ok(big.sha.has(rel), `${rel} is one of SOURCE's files`);
      t.equal(fs.lstatSync(p).size, BIG_SIZE, `${rel}: complete size`);
      t.equal(sha256(p), big.sha.get(rel), `${rel}: byte-identical to SOURCE`);
    }
    t.same(tempNames(caseDir), [], `no name starting with ${TEMP_PREFIX} anywhere under DEST`);
    fs.rmSync(caseDir, { recursive: true, force: true });
  });
}

t.test('a FIFO with no writer, -p fifo out: SIGTERM ends it within 0.5 s, nothing left', async (t) => {
  const dir = scratchDir(t);
  const r0 = run('mkfifo', [path.join(dir, 'fifo')]);
  t.equal(r0.status, 0, 'mkfifo');
  const proc = start(t, ['env', '-u', 'NODE_OPTIONS', process.execPath, BIN, '-p', 'fifo', 'out'], dir);
  const pid = proc.child.pid!;
  // Under way: some thread of tscp is blocked opening the FIFO (waiting for a writer).
  const blocked = (): boolean => {
    try {
      return fs.readdirSync(`/proc/${pid}/task`).some((tid) => {
        try {
          return /wait_for_partner|fifo/.test(fs.readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8'));
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  };
  t.ok(await waitFor(() => proc.exited() || blocked(), 20_000), 'tscp is blocked opening the FIFO');
  t.notOk(proc.exited(), 'tscp still runs when the signal is sent');
  if (proc.exited()) {
    t.comment(JSON.stringify(await proc.done));
    return;
  }
  const killedAt = performance.now();
  proc.child.kill('SIGTERM');
  const r = await proc.done;
  const ms = r.endedAt - killedAt;
  t.comment(`FIFO: exit ${r.status}/${r.signal} after ${ms.toFixed(0)} ms; ${r.stderr.trim()}`);
  t.ok(r.status === 143 || r.signal === 'SIGTERM', `exit 143 or death by SIGTERM (${r.status}/${r.signal})`);
  t.ok(ms < STOP_WITHIN_MS, `stopped within ${STOP_WITHIN_MS} ms (took ${ms.toFixed(0)} ms)`);
  t.same(fs.readdirSync(dir).sort(), ['fifo'], 'no out and no temporary file');
});

// ---------------------------------------------------------------------------------------
// Scale and parallelism

t.test('ulimit -n 1024: 3000 files in one directory and 300 nested directories (as cp -r)', async (t) => {
  const dir = scratchDir(t);
  const limited = run('prlimit', ['--nofile=1024:1024', '--', 'sh', '-c', 'ulimit -n']);
  t.equal(limited.stdout.trim(), '1024', 'prlimit sets the limit to 1024');
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'flat'), { recursive: true });
  for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(src, 'flat', `file-${String(i).padStart(4, '0')}`), `file ${i}\n`);
  let deep = path.join(src, 'deep');
  for (let i = 0; i < 300; i++) {
    deep = path.join(deep, `d${String(i).padStart(3, '0')}`);
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'f'), `level ${i}\n`);
  }
  const env = { ...cleanEnv(), LC_ALL: 'C' };
  const c = run('prlimit', ['--nofile=1024:1024', '--', 'cp', '-r', 'src', 'cp-out'], { cwd: dir, env });
  const r = run('prlimit', ['--nofile=1024:1024', '--', process.execPath, BIN, '-r', 'src', 'tscp-out'], { cwd: dir, env });
  t.equal(c.status, 0, `cp: exit 0 ${c.stderr.slice(0, 300)}`);
  t.equal(r.status, 0, `tscp: exit 0 ${r.stderr.slice(0, 300)}`);
  t.equal(r.stderr, '', 'nothing on stderr');
  const want = tree(path.join(dir, 'cp-out'));
  const got = tree(path.join(dir, 'tscp-out'));
  t.equal(Object.keys(got).length, Object.keys(tree(src)).length, `every path copied (${Object.keys(got).length})`);
  sameTree(t, want, got, 'ulimit -n 1024');
});

t.test('-j 1 and -j 8 give identical trees (and cp -r\'s)', async (t) => {
  const dir = scratchDir(t);
  const src = path.join(dir, 'src');
  for (let d = 0; d < 8; d++) {
    for (let f = 0; f < 25; f++) {
      const size = [0, 1, 4095, 4096, 65537, 1 * M + 3][(d * 25 + f) % 6]!;
      const p = path.join(src, `dir${d}`, `sub${f % 3}`, `file${f}.bin`);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      writeRandom(p, size);
      fs.chmodSync(p, [0o644, 0o600, 0o755, 0o640][f % 4]!);
    }
    fs.symlinkSync(`sub0/file${d}.bin`, path.join(src, `dir${d}`, 'link'));
    fs.mkdirSync(path.join(src, `dir${d}`, 'empty'));
  }
  writeRandom(path.join(src, 'big.bin'), 24 * M);
  const c = cp(['-r', 'src', 'cp-out'], dir);
  t.equal(c.status, 0, 'cp -r: exit 0');
  const trees: Record<string, Record<string, string>> = {};
  for (const j of ['1', '8']) {
    const r = ts(['--json', '-r', '-j', j, 'src', `j${j}`], dir);
    t.equal(r.status, 0, `-j ${j}: exit 0 ${r.stderr}`);
    const doc = parseJson(t, r.stdout, `-j ${j}`);
    if (doc) {
      t.equal(doc.jobs, Number(j), `-j ${j}: jobs ${j} in --json`);
      t.equal(doc.counts.files, 201, `-j ${j}: 201 files`);
      t.equal(doc.counts.directories, 1 + 8 * 5, `-j ${j}: 41 directories`);
      t.equal(doc.counts.symlinks, 8, `-j ${j}: 8 symlinks`);
    }
    trees[j] = tree(path.join(dir, `j${j}`));
  }
  sameTree(t, trees['1']!, trees['8']!, '-j 1 vs -j 8', '-j 1', '-j 8');
  // Eight workers start at once: every run must succeed, not just one.
  const small = path.join(dir, 'small');
  write(path.join(small, 'a.txt'), 'a\n');
  write(path.join(small, 'sub', 'b.txt'), 'b\n');
  const failures: string[] = [];
  for (let i = 0; i < 12; i++) {
    const r = ts(['-r', '-j', '8', 'small', `small-${i}`], dir);
    if (r.status !== 0) failures.push(`run ${i}: status ${r.status} signal ${r.signal}: ${r.stderr.split('\n').slice(0, 2).join(' ')}`);
  }
  t.same(failures, [], `12 runs of -j 8 on a small tree all exit 0${failures.length ? `:\n  ${failures.join('\n  ')}` : ''}`);
  sameTree(t, tree(path.join(dir, 'cp-out')), trees['8']!, '-j 8 vs cp -r');
});

t.test('a worker thread that dies: one internal-error line and exit 1, not an interrupt', async (t) => {
  const dir = scratchDir(t);
  for (const name of ['a', 'b', 'c']) write(path.join(dir, 'src', name), `${name}\n`, 0o644, T2000);
  // No filesystem makes a worker die on demand (out of memory, a bug): the preload gives
  // the pool workers that exit with status 3 as soon as they start.
  const preload = path.join(dir, 'dying-workers.cjs');
  fs.writeFileSync(
    preload,
    [
      "const threads = require('node:worker_threads');",
      'const Real = threads.Worker;',
      "threads.Worker = class extends Real { constructor(file, options) { super('process.exit(3)', { ...options, eval: true }); } };",
    ].join('\n'),
  );
  const r = run('env', ['-u', 'NODE_OPTIONS', process.execPath, '--require', preload, BIN, '-r', 'src', 'dst'], { cwd: dir, env: cleanEnv() });
  t.equal(r.status, 1, `exit 1 (an error), not 130 (an interrupt): ${r.stderr.trim()}`);
  t.match(r.stderr, /^tscp: internal error: a worker thread failed: worker exited with status 3\n$/, 'one line saying a worker failed');
  t.notMatch(r.stderr, /interrupted/, 'no word of an interrupt');
  const json = run('env', ['-u', 'NODE_OPTIONS', process.execPath, '--require', preload, BIN, '-r', '--json', 'src', 'dst2'], { cwd: dir, env: cleanEnv() });
  const report = JSON.parse(json.stdout) as { ok: boolean; interrupted: boolean; errors: { message: string }[] };
  t.equal(report.ok, false, '--json: ok false');
  t.equal(report.interrupted, false, '--json: interrupted false');
  t.match(report.errors, [{ message: /worker thread failed/ }], '--json: the error is listed');
  // Control: without the preload the same copy works.
  const plain = ts(['-r', 'src', 'dst3'], dir);
  t.equal(plain.status, 0, `without the preload: exit 0 ${plain.stderr}`);
});
