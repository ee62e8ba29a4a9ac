/**
 * Replacing an existing DEST keeps what `cp src dst` keeps (cp writes into DEST, so DEST
 * keeps its inode and everything on it), end to end with the real binary on loop-mounted
 * btrfs, XFS and ext4 and on tmpfs. Each case builds the same starting state twice, runs
 * GNU cp in one copy and tscp in the other, and compares what the kernel then reports:
 *
 *   inode flags   btrfs `chattr +C` on SOURCE and DEST: --reflink=always succeeds as cp's
 *                 does, DEST keeps C (lsattr) and shares SOURCE's extents; the default mode
 *                 keeps C too; a flag DEST lacks is not taken from a +C directory; ext4 +A +d
 *   xattrs, ACL   user.*, trusted.* (as root), an ACL (setfacl -m u:nobody:r), owner and
 *                 mode: getfattr -d -m - of tscp's DEST equals that of cp's; a default ACL
 *                 of the directory is not given to a DEST that had no ACL; file capabilities
 *                 dropped as cp's write drops them
 *   in place      a DEST with a second hard link: both names show SOURCE's bytes, same
 *                 inode, --json says inPlace true (also with a longer DEST: no old tail);
 *                 as uid 65534, an xattr the new file may not be given (security.*) and an
 *                 unreadable DEST make tscp write in place; a foreign-owned longer DEST
 *                 written in place loses its old tail
 *   atomic        a DEST with no flags and no xattrs is still replaced by rename: new
 *                 inode, inPlace false, no temporary file left
 *   trees         -a and -r over existing files: getfattr output equal to cp -a's / cp -r's
 */
import t, { type Test } from 'tap';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, cannotMountReason, mayRun, mountFs, sha256, sharedBytes, temps, writeRandom, type FsKind, type RunResult } from '../helpers/fs.js';

const K = 1024;
const M = 1024 * K;
const NOBODY = 65534;

// ---------------------------------------------------------------------------------------
// Helpers

/** The environment without tap's hooks (a child as uid 65534 must not write into .tap/). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', LC_ALL: 'C' };
  for (const k of Object.keys(env)) {
    if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_')) delete env[k];
  }
  return env;
}

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, env: cleanEnv(), ...options });
  return { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** bin/tscp.js through env -u NODE_OPTIONS (tap re-adds its loader to a child's NODE_OPTIONS). */
function ts(args: string[], options: { nobody?: boolean } = {}): RunResult {
  const cmd = ['env', '-u', 'NODE_OPTIONS', process.execPath, BIN, ...args];
  if (options.nobody) cmd.unshift('setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--');
  return run(cmd[0]!, cmd.slice(1));
}

/** tscp --json: the report, after checking the run succeeded. */
function tsJson(t: Test, args: string[], options: { nobody?: boolean } = {}): { inPlace: boolean | null; ok: boolean } {
  const r = ts(['--json', ...args], options);
  t.equal(r.status, 0, `tscp ${args.join(' ')} exits 0 ${r.stderr}`);
  return JSON.parse(r.stdout) as { inPlace: boolean | null; ok: boolean };
}

function cp(args: string[]): RunResult {
  return run('cp', args);
}

/** A command that must succeed (the test's own set-up and witnesses). */
function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** The lsattr letters of a file, e.g. "C" or "dA" (order as lsattr prints them). */
function attrs(file: string): string {
  const field = must('lsattr', ['-d', file]).split(/\s+/)[0]!;
  return field.replace(/-/g, '');
}

/** Every xattr of a file, values in base64, without getfattr's "# file:" line. */
function xattrs(file: string): string {
  const r = run('getfattr', ['--absolute-names', '-d', '-m', '-', '-e', 'base64', file]);
  if (r.status !== 0) throw new Error(`getfattr ${file}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('# file:'))
    .join('\n');
}

/** What cp keeps of DEST besides its bytes: xattrs (ACL included), mode, owner, flags. */
function kept(file: string, withFlags: boolean): Record<string, string> {
  const st = fs.statSync(file);
  return {
    xattrs: xattrs(file),
    mode: (st.mode & 0o7777).toString(8),
    owner: `${st.uid}:${st.gid}`,
    ...(withFlags ? { flags: attrs(file) } : {}),
  };
}

/** Two directories under `base` built by `make` alike: `cp` (for GNU cp) and `ts` (for tscp). */
function pair(base: string, name: string, make: (dir: string) => void): { cpDir: string; tsDir: string } {
  const cpDir = path.join(base, `${name}-cp`);
  const tsDir = path.join(base, `${name}-ts`);
  for (const dir of [cpDir, tsDir]) {
    fs.mkdirSync(dir);
    make(dir);
  }
  return { cpDir, tsDir };
}

/** Each filesystem is mounted once for the whole file (unmounted when it ends). */
const mounts = new Map<FsKind, string>();
/** A fresh directory on a filesystem of `kind`, or null (after skip, or fail under CI) if none. */
function mounted(tt: Test, kind: FsKind): string | null {
  if (!mayRun(tt, cannotMountReason(kind))) return null;
  let mnt = mounts.get(kind);
  if (mnt === undefined) {
    const m = mountFs(t, kind);
    if (m === null) {
      tt.fail(`could not mount ${kind}`);
      return null;
    }
    // Searchable by the cases that run tscp as uid 65534 (mkdtemp made the parent 0700).
    fs.chmodSync(path.dirname(m), 0o755);
    fs.chmodSync(m, 0o755);
    mounts.set(kind, (mnt = m));
  }
  const dir = fs.mkdtempSync(path.join(mnt, 'case-'));
  fs.chmodSync(dir, 0o755);
  return dir;
}

// ---------------------------------------------------------------------------------------
// Inode flags

t.test('btrfs: +C on SOURCE and DEST, --reflink=always succeeds as cp does and DEST keeps C', async (t) => {
  const base = mounted(t, 'btrfs');
  if (!base) return;
  const size = 4 * M + 123;
  const { cpDir, tsDir } = pair(base, 'nocow', (dir) => {
    for (const f of ['src', 'dst']) fs.writeFileSync(path.join(dir, f), '');
    must('chattr', ['+C', path.join(dir, 'src'), path.join(dir, 'dst')]);
    writeRandom(path.join(dir, 'src'), size);
    fs.writeFileSync(path.join(dir, 'dst'), 'old');
  });
  const c = cp(['--reflink=always', path.join(cpDir, 'src'), path.join(cpDir, 'dst')]);
  t.equal(c.status, 0, `cp --reflink=always succeeds ${c.stderr}`);
  const r = tsJson(t, ['--reflink=always', path.join(tsDir, 'src'), path.join(tsDir, 'dst')]);
  const dst = path.join(tsDir, 'dst');
  t.equal(attrs(dst), 'C', 'DEST keeps C (lsattr)');
  t.equal(attrs(path.join(cpDir, 'dst')), 'C', "(as cp's DEST does)");
  t.equal(sha256(dst), sha256(path.join(tsDir, 'src')), "DEST holds SOURCE's bytes");
  t.equal(sharedBytes(dst), sharedBytes(path.join(cpDir, 'dst')), "DEST shares as many bytes as cp's");
  t.ok(sharedBytes(dst) >= size - (size % (4 * K)), `DEST shares SOURCE's extents (${sharedBytes(dst)} bytes)`);
  t.equal(r.inPlace, false, 'replaced by rename: the new file was given C while still empty');
  t.same(temps(tsDir), [], 'no temporary file left');
});

t.test('btrfs: the default mode keeps DEST +C, whether SOURCE is +C or not', async (t) => {
  const base = mounted(t, 'btrfs');
  if (!base) return;
  for (const srcNocow of [true, false]) {
    const { cpDir, tsDir } = pair(base, `default-${srcNocow}`, (dir) => {
      for (const f of ['src', 'dst']) fs.writeFileSync(path.join(dir, f), '');
      must('chattr', ['+C', path.join(dir, 'dst'), ...(srcNocow ? [path.join(dir, 'src')] : [])]);
      writeRandom(path.join(dir, 'src'), M + 7);
      fs.writeFileSync(path.join(dir, 'dst'), 'old content');
    });
    t.equal(cp([path.join(cpDir, 'src'), path.join(cpDir, 'dst')]).status, 0);
    tsJson(t, [path.join(tsDir, 'src'), path.join(tsDir, 'dst')]);
    t.equal(attrs(path.join(tsDir, 'dst')), 'C', `SOURCE ${srcNocow ? '+C' : 'plain'}: DEST keeps C`);
    t.same(kept(path.join(tsDir, 'dst'), true), kept(path.join(cpDir, 'dst'), true), "as cp's DEST");
    t.equal(sha256(path.join(tsDir, 'dst')), sha256(path.join(tsDir, 'src')), "SOURCE's bytes");
  }
});

t.test('btrfs: a DEST without C in a +C directory stays without it, as with cp', async (t) => {
  const base = mounted(t, 'btrfs');
  if (!base) return;
  const { cpDir, tsDir } = pair(base, 'inherit', (dir) => {
    writeRandom(path.join(dir, 'src'), 64 * K);
    fs.writeFileSync(path.join(dir, 'dst'), 'old');
    // Set after DEST exists: new files in the directory now get C, DEST has not.
    must('chattr', ['+C', dir]);
  });
  t.equal(cp([path.join(cpDir, 'src'), path.join(cpDir, 'dst')]).status, 0);
  const r = tsJson(t, [path.join(tsDir, 'src'), path.join(tsDir, 'dst')]);
  t.equal(attrs(path.join(tsDir, 'dst')), '', 'DEST has no C (the new file lost the one it inherited)');
  t.same(kept(path.join(tsDir, 'dst'), true), kept(path.join(cpDir, 'dst'), true), "as cp's DEST");
  t.equal(r.inPlace, false, 'still replaced by rename');
});

t.test('ext4: DEST keeps its +A and +d', async (t) => {
  const base = mounted(t, 'ext4');
  if (!base) return;
  const { cpDir, tsDir } = pair(base, 'flags', (dir) => {
    writeRandom(path.join(dir, 'src'), 100 * K);
    fs.writeFileSync(path.join(dir, 'dst'), 'old');
    must('chattr', ['+A', '+d', path.join(dir, 'dst')]);
  });
  t.equal(cp([path.join(cpDir, 'src'), path.join(cpDir, 'dst')]).status, 0);
  const r = tsJson(t, [path.join(tsDir, 'src'), path.join(tsDir, 'dst')]);
  t.equal(attrs(path.join(tsDir, 'dst')).replace('e', ''), 'dA', 'DEST keeps d and A (lsattr)');
  t.same(kept(path.join(tsDir, 'dst'), true), kept(path.join(cpDir, 'dst'), true), "as cp's DEST");
  t.equal(r.inPlace, false, 'replaced by rename');
  t.equal(sha256(path.join(tsDir, 'dst')), sha256(path.join(tsDir, 'src')));
});

// ---------------------------------------------------------------------------------------
// Extended attributes and ACLs

for (const kind of ['ext4', 'xfs', 'btrfs', 'tmpfs'] as FsKind[]) {
  t.test(`${kind}: DEST's xattrs, ACL, mode and owner survive as with cp`, async (t) => {
    const base = mounted(t, kind);
    if (!base) return;
    const { cpDir, tsDir } = pair(base, 'xattr', (dir) => {
      writeRandom(path.join(dir, 'src'), 200 * K + 3);
      must('setfattr', ['-n', 'user.src', '-v', 'from-source', path.join(dir, 'src')]);
      const dst = path.join(dir, 'dst');
      fs.writeFileSync(dst, 'old');
      must('setfattr', ['-n', 'user.tag', '-v', 'kept', dst]);
      must('setfattr', ['-n', 'trusted.tscp', '-v', 'root-only', dst]);
      must('setfacl', ['-m', 'u:nobody:r', dst]);
      fs.chmodSync(dst, 0o640);
      fs.chownSync(dst, NOBODY, NOBODY);
    });
    t.equal(cp([path.join(cpDir, 'src'), path.join(cpDir, 'dst')]).status, 0);
    const before = fs.statSync(path.join(tsDir, 'dst')).ino;
    const r = tsJson(t, [path.join(tsDir, 'src'), path.join(tsDir, 'dst')]);
    const dst = path.join(tsDir, 'dst');
    const got = kept(dst, false);
    t.same(got, kept(path.join(cpDir, 'dst'), false), "getfattr -d -m -, mode and owner equal cp's DEST's");
    t.match(got.xattrs, /user\.tag=/, 'user.tag is there');
    t.match(got.xattrs, /trusted\.tscp=/, 'trusted.tscp is there');
    t.match(got.xattrs, /system\.posix_acl_access=/, 'the ACL is there');
    t.notMatch(got.xattrs, /user\.src/, "SOURCE's xattrs are not (no --preserve)");
    t.match(must('getfacl', ['-c', dst]), /user:nobody:r--/, 'getfacl shows the entry for nobody');
    t.equal(sha256(dst), sha256(path.join(tsDir, 'src')), "SOURCE's bytes");
    t.equal(r.inPlace, false, 'replaced by rename');
    t.not(fs.statSync(dst).ino, before, 'a new inode');
    t.same(temps(tsDir), [], 'no temporary file left');
  });
}

t.test("ext4: a directory's default ACL is not given to a DEST that had no ACL", async (t) => {
  const base = mounted(t, 'ext4');
  if (!base) return;
  const { cpDir, tsDir } = pair(base, 'default-acl', (dir) => {
    writeRandom(path.join(dir, 'src'), 10 * K);
    fs.writeFileSync(path.join(dir, 'dst'), 'old');
    fs.chmodSync(path.join(dir, 'dst'), 0o644);
    must('setfacl', ['-d', '-m', 'u:daemon:rw', dir]);
  });
  t.equal(cp([path.join(cpDir, 'src'), path.join(cpDir, 'dst')]).status, 0);
  tsJson(t, [path.join(tsDir, 'src'), path.join(tsDir, 'dst')]);
  t.same(kept(path.join(tsDir, 'dst'), false), kept(path.join(cpDir, 'dst'), false), "as cp's DEST");
  t.notMatch(xattrs(path.join(tsDir, 'dst')), /posix_acl_access/, 'no ACL');
});

t.test('ext4: file capabilities on DEST are dropped, as the kernel drops them on cp\'s write', async (t) => {
  const base = mounted(t, 'ext4');
  if (!base) return;
  const { cpDir, tsDir } = pair(base, 'caps', (dir) => {
    writeRandom(path.join(dir, 'src'), 10 * K);
    fs.writeFileSync(path.join(dir, 'dst'), 'old');
    must('setfattr', ['-n', 'user.tag', '-v', 'x', path.join(dir, 'dst')]);
    // cap_net_raw+ep, as setcap(8) writes it (VFS_CAP_REVISION_2).
    must('setfattr', ['-n', 'security.capability', '-v', '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=', path.join(dir, 'dst')]);
  });
  t.equal(cp([path.join(cpDir, 'src'), path.join(cpDir, 'dst')]).status, 0);
  tsJson(t, [path.join(tsDir, 'src'), path.join(tsDir, 'dst')]);
  t.same(kept(path.join(tsDir, 'dst'), false), kept(path.join(cpDir, 'dst'), false), "as cp's DEST");
  t.notMatch(xattrs(path.join(tsDir, 'dst')), /security\.capability/, 'no file capabilities');
});

// ---------------------------------------------------------------------------------------
// Written in place

for (const kind of ['ext4', 'btrfs'] as FsKind[]) {
  t.test(`${kind}: a DEST with a second hard link is written in place: both names show SOURCE`, async (t) => {
    const base = mounted(t, kind);
    if (!base) return;
    for (const longer of [false, true]) {
      const dir = fs.mkdtempSync(path.join(base, 'links-'));
      const src = path.join(dir, 'src');
      const dst = path.join(dir, 'dst');
      const other = path.join(dir, 'other');
      writeRandom(src, 300 * K + 5);
      writeRandom(dst, longer ? 2 * M : 1000);
      fs.linkSync(dst, other);
      const ino = fs.statSync(dst).ino;
      const r = tsJson(t, [src, dst]);
      const want = sha256(src);
      t.equal(sha256(dst), want, `DEST ${longer ? 'longer' : 'shorter'} than SOURCE: DEST shows SOURCE's bytes`);
      t.equal(sha256(other), want, 'and so does its other name');
      t.equal(fs.statSync(dst).ino, ino, 'same inode as before');
      t.equal(fs.statSync(dst).nlink, 2, 'still two names');
      t.equal(fs.statSync(dst).size, fs.statSync(src).size, "SOURCE's size (no old tail)");
      t.equal(r.inPlace, true, '--json says inPlace true');
      t.same(temps(dir), [], 'no temporary file left');
    }
  });
}

t.test('btrfs: hard-linked DEST with --reflink=always: both names share SOURCE\'s extents', async (t) => {
  const base = mounted(t, 'btrfs');
  if (!base) return;
  const src = path.join(base, 'src');
  const dst = path.join(base, 'dst');
  writeRandom(src, 2 * M);
  writeRandom(dst, 3 * M);
  fs.linkSync(dst, path.join(base, 'other'));
  const r = tsJson(t, ['--reflink=always', src, dst]);
  t.equal(r.inPlace, true, 'in place');
  t.equal(sha256(path.join(base, 'other')), sha256(src), "the other name shows SOURCE's bytes");
  t.equal(sharedBytes(dst), 2 * M, 'and shares them');
});

t.test('as uid 65534: an xattr the new file may not be given makes tscp write in place', async (t) => {
  const base = mounted(t, 'ext4');
  if (!base) return;
  const { cpDir, tsDir } = pair(base, 'security', (dir) => {
    fs.chmodSync(dir, 0o777);
    writeRandom(path.join(dir, 'src'), 50 * K);
    fs.chmodSync(path.join(dir, 'src'), 0o644);
    const dst = path.join(dir, 'dst');
    writeRandom(dst, 80 * K);
    // Anyone may read a security.* xattr; only CAP_SYS_ADMIN may set one.
    must('setfattr', ['-n', 'security.tscp', '-v', 'label', dst]);
    must('setfattr', ['-n', 'user.tag', '-v', 'x', dst]);
    fs.chownSync(dst, NOBODY, NOBODY);
  });
  const c = run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'cp', path.join(cpDir, 'src'), path.join(cpDir, 'dst')]);
  t.equal(c.status, 0, `cp as 65534 ${c.stderr}`);
  const ino = fs.statSync(path.join(tsDir, 'dst')).ino;
  const r = tsJson(t, [path.join(tsDir, 'src'), path.join(tsDir, 'dst')], { nobody: true });
  const dst = path.join(tsDir, 'dst');
  t.equal(r.inPlace, true, 'written in place');
  t.equal(fs.statSync(dst).ino, ino, 'same inode');
  t.match(xattrs(dst), /security\.tscp=/, 'security.tscp kept');
  t.same(kept(dst, false), kept(path.join(cpDir, 'dst'), false), "as cp's DEST");
  t.equal(sha256(dst), sha256(path.join(tsDir, 'src')), "SOURCE's bytes, no old tail");
  t.same(temps(tsDir), [], 'no temporary file left');
});

t.test('as uid 65534: an unreadable (0200) DEST is written in place, as cp writes it', async (t) => {
  const base = mounted(t, 'ext4');
  if (!base) return;
  const dir = fs.mkdtempSync(path.join(base, 'wo-'));
  fs.chmodSync(dir, 0o777);
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  writeRandom(src, 20 * K);
  fs.chmodSync(src, 0o644);
  writeRandom(dst, 30 * K);
  fs.chownSync(dst, NOBODY, NOBODY);
  fs.chmodSync(dst, 0o200);
  const ino = fs.statSync(dst).ino;
  const r = tsJson(t, [src, dst], { nobody: true });
  t.equal(r.inPlace, true, 'written in place: what it carries could not be read');
  t.equal(fs.statSync(dst).ino, ino, 'same inode');
  t.equal(fs.statSync(dst).mode & 0o7777, 0o200, 'mode kept');
  t.equal(sha256(dst), sha256(src), "SOURCE's bytes");
});

t.test("as uid 65534: a root-owned longer DEST written in place loses its old tail", async (t) => {
  const base = mounted(t, 'ext4');
  if (!base) return;
  const dir = fs.mkdtempSync(path.join(base, 'owner-'));
  fs.chmodSync(dir, 0o777);
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  writeRandom(src, 20 * K + 1);
  fs.chmodSync(src, 0o644);
  writeRandom(dst, 100 * K);
  fs.chmodSync(dst, 0o666);
  const r = tsJson(t, [src, dst], { nobody: true });
  t.equal(r.inPlace, true, 'in place (a new file could not be given root as owner)');
  t.equal(fs.statSync(dst).uid, 0, 'owner kept');
  t.equal(fs.statSync(dst).size, 20 * K + 1, "SOURCE's size");
  t.equal(sha256(dst), sha256(src), "SOURCE's bytes");
});

// ---------------------------------------------------------------------------------------
// Still atomic

for (const kind of ['ext4', 'xfs', 'btrfs', 'tmpfs'] as FsKind[]) {
  t.test(`${kind}: a DEST with no flags and no xattrs is replaced by rename`, async (t) => {
    const base = mounted(t, kind);
    if (!base) return;
    const dir = fs.mkdtempSync(path.join(base, 'plain-'));
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    writeRandom(src, 500 * K);
    writeRandom(dst, 800 * K);
    fs.chmodSync(dst, 0o604);
    const ino = fs.statSync(dst).ino;
    const r = tsJson(t, [src, dst]);
    t.equal(r.inPlace, false, 'inPlace false');
    t.not(fs.statSync(dst).ino, ino, 'a new inode');
    t.equal(fs.statSync(dst).mode & 0o7777, 0o604, 'mode kept');
    t.equal(sha256(dst), sha256(src), "SOURCE's bytes");
    t.equal(xattrs(dst), '', 'no xattrs appeared');
    t.same(temps(dir), [], 'no temporary file left');
  });
}

// ---------------------------------------------------------------------------------------
// Trees

t.test('ext4: -a and -r over existing files leave the xattrs and ACL cp -a / cp -r leave', async (t) => {
  const base = mounted(t, 'ext4');
  if (!base) return;
  for (const args of [['-a'], ['-r'], ['-p']]) {
    const { cpDir, tsDir } = pair(base, `tree${args[0]}`, (dir) => {
      fs.mkdirSync(path.join(dir, 'src'));
      fs.mkdirSync(path.join(dir, 'dst'));
      for (const name of ['plain', 'acl']) {
        const s = path.join(dir, 'src', name);
        writeRandom(s, 9 * K);
        must('setfattr', ['-n', 'user.src', '-v', name, s]);
        const d = path.join(dir, 'dst', name);
        fs.writeFileSync(d, 'old');
        must('setfattr', ['-n', 'user.tag', '-v', 'kept', d]);
        must('setfacl', ['-m', 'u:nobody:r', d]);
      }
      must('setfacl', ['-m', 'u:daemon:rw', path.join(dir, 'src', 'acl')]);
    });
    const files = (dir: string) => (args[0] === '-p' ? ['plain', 'acl'].map((n) => path.join(dir, 'src', n)) : [`${path.join(dir, 'src')}/.`]);
    const c = cp([...args, ...files(cpDir), path.join(cpDir, 'dst')]);
    t.equal(c.status, 0, `cp ${args.join(' ')} ${c.stderr}`);
    const r = ts([...args, ...files(tsDir), path.join(tsDir, 'dst')]);
    t.equal(r.status, 0, `tscp ${args.join(' ')} ${r.stderr}`);
    for (const name of ['plain', 'acl']) {
      const got = kept(path.join(tsDir, 'dst', name), false);
      t.same(got, kept(path.join(cpDir, 'dst', name), false), `${args.join(' ')}: ${name} as cp's`);
      t.match(got.xattrs, /user\.tag=/, `${args.join(' ')}: ${name} keeps user.tag`);
      t.equal(sha256(path.join(tsDir, 'dst', name)), sha256(path.join(tsDir, 'src', name)));
    }
  }
});
