/**
 * The quick way (src/cli/quick-copy.ts): `tscp SOURCE DEST` of a plain file to a new name is
 * done with Node's copyFile before commander, the engine or koffi load. Checked on real
 * filesystems: what the kernel did (bytes, shared extents, modes), that koffi was never
 * opened (strace: the proof the quick way ran), and that every case it must decline goes to
 * the engine and comes out as the engine makes it. Also: a signal during a copy on the
 * thread pool.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, allocatedBytes, mayRun, mountFs, sha256, sharedBytes, temps, which, writeRandom, writeSparse } from '../helpers/fs.js';

const K = 1024;
const M = 1024 * K;

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env, FORCE_COLOR: '0' };
  delete env.NODE_OPTIONS; // tap's loaders: tscp runs as it does for users
  return env;
}

interface Traced {
  status: number | null;
  stderr: string;
  /** Whether the process opened koffi's native module: the engine was loaded. */
  loadedKoffi: boolean;
}

/** Run tscp under `umask 022` and strace (openat only), and say whether koffi was loaded. */
function traced(t: Test, args: string[], dir: string): Traced | null {
  if (!mayRun(t, which('strace') ? null : 'strace is not installed (apt-get install -y strace)')) return null;
  const log = path.join(dir, `.trace-${process.hrtime.bigint()}`);
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const r = spawnSync('sh', ['-c', `umask 022; exec strace -f -qq -e trace=openat,open -o '${log}' -- '${process.execPath}' '${BIN}' ${quoted}`], { encoding: 'utf8', env: cleanEnv() });
  const lines = fs.readFileSync(log, 'utf8').split('\n');
  fs.rmSync(log);
  const loadedKoffi = lines.some((l) => /koffi[^"]*\.node"/.test(l) && !/= -1 /.test(l));
  return { status: r.status, stderr: r.stderr, loadedKoffi };
}

const modeOf = (p: string) => fs.statSync(p).mode & 0o7777;

t.test('plain copies to a new name go the quick way: koffi never loaded, the kernel did the copy', async (t) => {
  for (const kind of ['xfs', 'ext4'] as const) {
    await t.test(kind, async (t) => {
      const dir = mountFs(t, kind, 512);
      if (!dir) return;
      // 4 KiB: copied on the main thread; 40 MiB (over QUICK_COPY_BYTES): on the pool.
      for (const size of [4 * K, 40 * M]) {
        const src = path.join(dir, `src-${size}`);
        writeRandom(src, size);
        fs.chmodSync(src, 0o754);
        const into = path.join(dir, `into-${size}`);
        fs.mkdirSync(into);
        for (const [what, dest, final] of [
          ['new DEST', path.join(dir, `dst-${size}`), path.join(dir, `dst-${size}`)],
          ['DEST a directory', into, path.join(into, `src-${size}`)],
        ] as const) {
          const r = traced(t, [src, dest], dir);
          if (!r) return;
          t.equal(r.status, 0, `${kind} ${size} ${what}: exit 0 ${r.stderr}`);
          t.notOk(r.loadedKoffi, `${kind} ${size} ${what}: koffi was never loaded`);
          t.equal(sha256(final), sha256(src), `${kind} ${size} ${what}: DEST has SOURCE's bytes`);
          t.equal(modeOf(final), 0o754, `${kind} ${size} ${what}: mode is SOURCE's less the umask`);
          if (kind === 'xfs') t.equal(sharedBytes(final), size, `${kind} ${size} ${what}: every byte shares SOURCE's extents (reflink)`);
          t.same(temps(path.dirname(final)), [], `${kind} ${size} ${what}: no temporary file left`);
        }
      }
    });
  }
});

t.test('across filesystems (tmpfs -> ext4), without a progress bar: the quick way, libuv falling back to sendfile', async (t) => {
  const mem = mountFs(t, 'tmpfs', 128);
  const dir = mountFs(t, 'ext4', 512);
  if (!mem || !dir) return;
  for (const size of [4 * K, 40 * M]) {
    const src = path.join(mem, `src-${size}`);
    writeRandom(src, size);
    const dest = path.join(dir, `dst-${size}`);
    const r = traced(t, [src, dest], dir);
    if (!r) return;
    t.equal(r.status, 0, `${size}: exit 0 ${r.stderr}`);
    t.notOk(r.loadedKoffi, `${size}: koffi was never loaded`);
    t.equal(sha256(dest), sha256(src), `${size}: DEST has SOURCE's bytes`);
    t.same(temps(dir), [], `${size}: no temporary file left`);
  }
});

t.test('on FUSE (mergerfs over XFS) the quick way copies on the pool, and the copy is offloaded to XFS', async (t) => {
  if (!mayRun(t, which('mergerfs') ? null : 'mergerfs is not installed (apt-get install -y mergerfs)')) return;
  const xfs = mountFs(t, 'xfs', 512);
  if (!xfs) return;
  const branch = path.join(xfs, 'branch');
  const fuse = path.join(xfs, 'fuse');
  fs.mkdirSync(branch);
  fs.mkdirSync(fuse);
  const m = spawnSync('mergerfs', ['-o', 'cache.files=off,category.create=mfs,minfreespace=0', branch, fuse], { encoding: 'utf8' });
  if (!mayRun(t, m.status === 0 ? null : `cannot mount mergerfs: ${m.stderr}`)) return;
  t.teardown(() => void spawnSync('umount', [fuse]));
  for (const size of [4 * K, 40 * M]) {
    const src = path.join(fuse, `src-${size}`);
    writeRandom(src, size);
    const r = traced(t, [src, path.join(fuse, `dst-${size}`)], xfs);
    if (!r) return;
    t.equal(r.status, 0, `${size}: exit 0 ${r.stderr}`);
    t.notOk(r.loadedKoffi, `${size}: koffi was never loaded`);
    t.equal(sha256(path.join(fuse, `dst-${size}`)), sha256(src), `${size}: DEST has SOURCE's bytes`);
    t.equal(sharedBytes(path.join(branch, `dst-${size}`)), size, `${size}: on the branch, DEST shares every extent with SOURCE: no byte crossed FUSE`);
  }
  // An empty file on FUSE may only not know its size yet: the engine reads it.
  fs.writeFileSync(path.join(fuse, 'empty'), '');
  const r = traced(t, [path.join(fuse, 'empty'), path.join(fuse, 'empty-copy')], xfs);
  t.equal(r?.status, 0, `empty: exit 0 ${r?.stderr}`);
  t.ok(r?.loadedKoffi, 'empty file on FUSE: the engine copied it');
  t.equal(fs.statSync(path.join(fuse, 'empty-copy')).size, 0, 'empty file on FUSE: DEST empty');
});

t.test('what the quick way declines goes to the engine and comes out as the engine makes it', async (t) => {
  const dir = mountFs(t, 'ext4', 512);
  if (!dir) return;
  const run = (args: string[]) => traced(t, args, dir);

  // Sparse: only SEEK_DATA keeps the holes.
  const sparse = path.join(dir, 'sparse');
  writeSparse(sparse, 64 * M, [
    [0, M],
    [32 * M, M],
  ]);
  let r = run([sparse, path.join(dir, 'sparse-copy')]);
  if (!r) return;
  t.equal(r.status, 0, `sparse: exit 0 ${r.stderr}`);
  t.ok(r.loadedKoffi, 'sparse: the engine copied it');
  t.equal(sha256(path.join(dir, 'sparse-copy')), sha256(sparse), 'sparse: same bytes');
  t.ok(allocatedBytes(path.join(dir, 'sparse-copy')) <= allocatedBytes(sparse) + M, 'sparse: holes kept');

  // An existing DEST: the engine replaces it and keeps its xattrs, as cp does.
  const src = path.join(dir, 'src');
  writeRandom(src, 64 * K);
  const existing = path.join(dir, 'existing');
  writeRandom(existing, 8 * K);
  spawnSync('setfattr', ['-n', 'user.tag', '-v', 'kept', existing]);
  r = run([src, existing]);
  t.equal(r?.status, 0, `existing DEST: exit 0 ${r?.stderr}`);
  t.ok(r?.loadedKoffi, 'existing DEST: the engine replaced it');
  t.equal(sha256(existing), sha256(src), 'existing DEST: new bytes');
  t.equal(spawnSync('getfattr', ['--only-values', '-n', 'user.tag', existing], { encoding: 'utf8' }).stdout, 'kept', 'existing DEST: its user xattr kept');

  // Permission bits the umask takes from: libuv would write the file with SOURCE's bits.
  const open = path.join(dir, 'open');
  writeRandom(open, 4 * K);
  fs.chmodSync(open, 0o666);
  r = run([open, path.join(dir, 'open-copy')]);
  t.equal(r?.status, 0, `0666 SOURCE: exit 0 ${r?.stderr}`);
  t.ok(r?.loadedKoffi, '0666 SOURCE under umask 022: the engine copied it');
  t.equal(modeOf(path.join(dir, 'open-copy')), 0o644, '0666 SOURCE: DEST is 0644');

  // A /proc file says size 0 and must be read.
  r = run(['/proc/self/status', path.join(dir, 'status')]);
  t.equal(r?.status, 0, `/proc file: exit 0 ${r?.stderr}`);
  t.ok(r?.loadedKoffi, '/proc file: the engine copied it');
  t.match(fs.readFileSync(path.join(dir, 'status'), 'utf8'), /^Name:/, '/proc file: its text was copied');

  // Options that change what is done or said.
  for (const opt of ['-v', '--json', '--copy', '--fsync', '-n', '--reflink']) {
    const dest = path.join(dir, `opt${opt}`);
    r = run([opt, src, dest]);
    t.ok(r?.loadedKoffi, `${opt}: the engine copied it`);
    t.equal(fs.existsSync(dest) ? sha256(dest) : null, opt === '--reflink' ? null : sha256(src), `${opt}: DEST as the engine makes it`);
  }
  // A DEST named as a directory that is not one: the engine's ENOTDIR, before any byte.
  r = run([src, path.join(dir, 'nosuchdir') + '/']);
  t.equal(r?.status, 1, 'DEST/ not a directory: exit 1');
  t.match(r?.stderr ?? '', /Not a directory \(ENOTDIR\)/, 'DEST/ not a directory: ENOTDIR');
});

t.test('a signal during a copy on the thread pool: exit 128+N, no DEST, no temporary file', async (t) => {
  const dir = mountFs(t, 'tmpfs', 1200);
  if (!dir) return;
  const src = path.join(dir, 'big');
  writeRandom(src, 512 * M);
  const dest = path.join(dir, 'copy');
  // The copy runs on libuv's pool for a few hundred ms: stop tscp as soon as its temporary
  // file has data, queue SIGINT, and let it go on. A run that finished before it could be
  // stopped proves nothing and is tried again.
  let caught = false;
  for (let attempt = 0; attempt < 5 && !caught; attempt++) {
    fs.rmSync(dest, { force: true });
    const child = spawn(process.execPath, [BIN, src, dest], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
    let stopped = false;
    while (child.exitCode === null && child.signalCode === null) {
      const temp = temps(dir)[0];
      const size = temp === undefined ? 0 : (fs.statSync(path.join(dir, temp), { throwIfNoEntry: false })?.size ?? 0);
      if (size > 0 && size < 400 * M) {
        child.kill('SIGSTOP');
        stopped = true;
        break;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!stopped) {
      await exited;
      continue;
    }
    caught = true;
    child.kill('SIGINT');
    child.kill('SIGCONT');
    const [code, signal] = await exited;
    t.ok(code === 130 || signal === 'SIGINT', `exit 130 or death by SIGINT (code ${code}, signal ${signal})`);
    t.match(stderr, /^tscp: interrupted by SIGINT after \d+ bytes of '.*big' -> '.*copy'; DEST left as it was$/m, `one line says so: ${stderr.trim()}`);
    t.notOk(fs.existsSync(dest), 'no DEST');
    t.same(temps(dir), [], 'no temporary file');
  }
  t.ok(caught, 'a run was stopped mid-copy');
});
