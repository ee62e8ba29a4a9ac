/**
 * How copy() puts a complete temporary file in place of an existing DEST: the two names are
 * exchanged (renameat2 RENAME_EXCHANGE, which ext4 does not flush the way it flushes a
 * rename over a file) and the old file, now at the temporary name, is unlinked. In-process
 * on a loop-mounted ext4 and on tmpfs, with the real kernel; a Sys wrapping linuxSys counts
 * the calls and injects what no filesystem does on demand (EINVAL/ENOSYS from renameat2, a
 * DEST removed or made a directory just before the commit, an unlink that fails).
 *
 *   exchange      DEST gets SOURCE's bytes as a new inode; renameat2 once, no rename; the old
 *                 inode is unlinked everywhere (an fd kept open on it sees nlink 0); no
 *                 temporary file left; DEST's mode, owner, xattr and chattr +d kept
 *   atomic        a reader in another process opening DEST in a loop during 60 replacements
 *                 never finds it missing and never reads a mix of two versions
 *   fallback      renameat2 answering EINVAL or ENOSYS: a plain rename, same result
 *   races         DEST removed before the commit: made anew; DEST made a directory: the
 *                 exchange is undone, the copy fails with rename's EISDIR and the directory
 *                 stays; the old file's unlink refused: exchange undone, then a rename
 *   unchanged     a new DEST is renamed into place (no exchange tried); a DEST with two
 *                 hard links is still written in place (no exchange); with noClobber a
 *                 DEST that appears during the copy is kept (link, no exchange); a symlink
 *                 at DEST stays, the file it points to is exchanged
 */
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { copy } from '../../src/copy/copy.js';
import { linuxSys, type Sys } from '../../src/sys/index.js';
import { mountFs, temps, type FsKind } from '../helpers/fs.js';
import { rejection, sysError } from '../helpers/faults.js';

const K = 1024;

interface Calls {
  exchange: [string, string][];
  rename: [string, string][];
  unlink: string[];
}

/** linuxSys recording exchange, rename and unlink, with `override` on top. */
function recording(override: Partial<Sys> = {}): { sys: Sys; calls: Calls } {
  const calls: Calls = { exchange: [], rename: [], unlink: [] };
  const base: Sys = { ...linuxSys, ...override };
  const sys: Sys = {
    ...base,
    exchange(a, b) {
      calls.exchange.push([String(a), String(b)]);
      base.exchange(a, b);
    },
    rename(a, b) {
      calls.rename.push([String(a), String(b)]);
      base.rename(a, b);
    },
    unlink(p) {
      calls.unlink.push(String(p));
      base.unlink(p);
    },
  };
  return { sys, calls };
}

/** A file of `size` bytes all equal to `byte`. */
function fill(file: string, byte: number, size = 64 * K): void {
  fs.writeFileSync(file, Buffer.alloc(size, byte));
}

function caseDir(t: Test, kind: FsKind): string | null {
  const mnt = mountFs(t, kind);
  if (!mnt) return null;
  const dir = path.join(mnt, 'case');
  fs.mkdirSync(dir);
  return dir;
}

/** The flags column of lsattr -d. */
function lsattr(file: string): string {
  return execFileSync('lsattr', ['-d', file], { encoding: 'utf8' }).split(/\s+/)[0]!;
}

for (const kind of ['ext4', 'tmpfs'] as FsKind[]) {
  t.test(`${kind}: an existing DEST is exchanged with the new file, which keeps DEST's metadata`, async (t) => {
    const dir = caseDir(t, kind);
    if (!dir) return;
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    fill(src, 0x11, 300 * K);
    fill(dst, 0x22);
    fs.chmodSync(dst, 0o640);
    fs.chownSync(dst, 1234, 5678);
    execFileSync('setfattr', ['-n', 'user.kept', '-v', 'yes', dst]);
    if (kind === 'ext4') execFileSync('chattr', ['+d', dst]);
    const oldIno = fs.statSync(dst).ino;
    // Held open across the copy: afterwards it shows whether the old file still has a name.
    const oldFd = fs.openSync(dst, 'r');
    t.teardown(() => fs.closeSync(oldFd));

    const { sys, calls } = recording();
    const r = await copy(src, dst, { sys });

    t.equal(r.inPlace, false, 'not written in place');
    t.ok(fs.readFileSync(dst).equals(Buffer.alloc(300 * K, 0x11)), "DEST holds SOURCE's bytes");
    const st = fs.statSync(dst);
    t.not(st.ino, oldIno, 'DEST is a new inode');
    t.equal(calls.exchange.length, 1, 'one exchange');
    t.match(path.basename(calls.exchange[0]![0]), /^\.tscp-[0-9a-f]{12}-dst$/, 'of the temporary file');
    t.equal(calls.exchange[0]![1], dst, 'with DEST');
    t.same(calls.rename, [], 'no rename');
    t.same(calls.unlink, [calls.exchange[0]![0]], 'the old file unlinked at the temporary name');
    t.equal(fs.fstatSync(oldFd).nlink, 0, 'the old file has no name left');
    t.same(temps(dir), [], 'no temporary file left');
    t.equal(st.mode & 0o7777, 0o640, "DEST's mode kept");
    t.same([st.uid, st.gid], [1234, 5678], "DEST's owner kept");
    const xattr = execFileSync('getfattr', ['--only-values', '-n', 'user.kept', dst], { encoding: 'utf8' });
    t.equal(xattr, 'yes', "DEST's user.* xattr kept");
    if (kind === 'ext4') t.match(lsattr(dst), /d/, "DEST's chattr +d kept");
  });
}

/**
 * A reader in its own process: opens `file` and reads it whole, over and over, until
 * `stop` exists; counts the opens that found no file and the reads that were not one
 * version (`size` bytes all equal).
 */
const READER = `
const fs = require('node:fs');
const [file, stop, size] = [process.argv[1], process.argv[2], Number(process.argv[3])];
const buf = Buffer.alloc(size + 1);
let reads = 0, missing = 0, mixed = 0;
const seen = new Set();
process.stdout.write('ready\\n');
while (!fs.existsSync(stop)) {
  let fd;
  try { fd = fs.openSync(file, 'r'); } catch (e) { if (e.code === 'ENOENT') { missing++; continue; } throw e; }
  let n = 0, got;
  while ((got = fs.readSync(fd, buf, n, buf.length - n, n)) > 0) n += got;
  fs.closeSync(fd);
  reads++;
  if (n !== size || buf.subarray(0, n).some((b) => b !== buf[0])) mixed++;
  else seen.add(buf[0]);
}
process.stdout.write(JSON.stringify({ reads, missing, mixed, versions: seen.size }) + '\\n');
`;

t.test('ext4: a reader never finds DEST missing or half-replaced during 60 replacements', async (t) => {
  const dir = caseDir(t, 'ext4');
  if (!dir) return;
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  const stop = path.join(dir, 'stop');
  const size = 256 * K;
  fill(dst, 1, size);
  const reader = spawn(process.execPath, ['-e', READER, dst, stop, String(size)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  reader.stdout.setEncoding('utf8');
  const ready = new Promise<void>((resolve) => reader.stdout.on('data', (d: string) => ((out += d), out.includes('ready') && resolve())));
  const exited = new Promise<number | null>((resolve) => reader.on('exit', resolve));
  await ready;
  const { sys, calls } = recording();
  for (let v = 2; v <= 61; v++) {
    fill(src, v, size);
    await copy(src, dst, { sys });
    // Let the reader run between replacements, not only during them.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  fs.writeFileSync(stop, '');
  t.equal(await exited, 0, 'the reader exited cleanly');
  const report = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { reads: number; missing: number; mixed: number; versions: number };
  t.equal(calls.exchange.length, 60, 'every replacement was an exchange');
  t.ok(report.versions > 1, `the reader saw DEST change (${report.versions} versions in ${report.reads} reads)`);
  t.equal(report.missing, 0, 'DEST never missing');
  t.equal(report.mixed, 0, 'DEST never a mix of two versions');
  t.ok(fs.readFileSync(dst).equals(Buffer.alloc(size, 61)), 'DEST ends with the last version');
  t.same(temps(dir).filter((n) => n !== 'stop'), [], 'no temporary file left');
});

for (const code of ['EINVAL', 'ENOSYS']) {
  t.test(`ext4: renameat2 answering ${code} (no RENAME_EXCHANGE): a plain rename`, async (t) => {
    const dir = caseDir(t, 'ext4');
    if (!dir) return;
    const src = path.join(dir, 'src');
    const dst = path.join(dir, 'dst');
    fill(src, 0x33);
    fill(dst, 0x44, 100 * K);
    fs.chmodSync(dst, 0o604);
    fs.chownSync(dst, 4321, 8765);
    execFileSync('setfattr', ['-n', 'user.kept', '-v', 'still', dst]);
    const oldIno = fs.statSync(dst).ino;
    const { sys, calls } = recording({
      exchange() {
        throw sysError(code, 'renameat2');
      },
    });
    const r = await copy(src, dst, { sys });
    t.equal(r.inPlace, false, 'not written in place');
    t.ok(fs.readFileSync(dst).equals(Buffer.alloc(64 * K, 0x33)), "DEST holds SOURCE's bytes");
    const st = fs.statSync(dst);
    t.not(st.ino, oldIno, 'DEST is a new inode');
    t.equal(calls.exchange.length, 1, 'the exchange was tried');
    t.equal(calls.rename.length, 1, 'then one rename');
    t.same(calls.rename[0], [calls.exchange[0]![0], dst], 'of the temporary file over DEST');
    t.same(temps(dir), [], 'no temporary file left');
    t.equal(st.mode & 0o7777, 0o604, "DEST's mode kept");
    t.same([st.uid, st.gid], [4321, 8765], "DEST's owner kept");
    t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.kept', dst], { encoding: 'utf8' }), 'still', "DEST's xattr kept");
  });
}

t.test('ext4: DEST removed just before the commit is made anew', async (t) => {
  const dir = caseDir(t, 'ext4');
  if (!dir) return;
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fill(src, 0x55);
  fill(dst, 0x66);
  const { sys, calls } = recording({
    exchange(a, b) {
      fs.unlinkSync(b);
      linuxSys.exchange(a, b);
    },
  });
  await copy(src, dst, { sys });
  t.ok(fs.readFileSync(dst).equals(Buffer.alloc(64 * K, 0x55)), "DEST holds SOURCE's bytes");
  t.equal(calls.rename.length, 1, 'the exchange found no DEST: renamed instead');
  t.same(temps(dir), [], 'no temporary file left');
});

t.test('ext4: a directory put at DEST just before the commit stays, and the copy fails as a rename would', async (t) => {
  const dir = caseDir(t, 'ext4');
  if (!dir) return;
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fill(src, 0x77);
  fill(dst, 0x88);
  let first = true;
  const { sys, calls } = recording({
    exchange(a, b) {
      if (first) {
        first = false;
        fs.unlinkSync(b);
        fs.mkdirSync(b);
        fs.writeFileSync(path.join(String(b), 'inside'), 'kept');
      }
      linuxSys.exchange(a, b);
    },
  });
  const err = await rejection(copy(src, dst, { sys }));
  t.match(err, { code: 'EISDIR' }, "the copy fails with rename's EISDIR");
  t.equal(calls.exchange.length, 2, 'the exchange was undone');
  t.ok(fs.statSync(dst).isDirectory(), 'DEST is still the directory');
  t.equal(fs.readFileSync(path.join(dst, 'inside'), 'utf8'), 'kept', 'with what it held');
  t.same(temps(dir), [], 'no temporary file left');
});

t.test('ext4: the old file refusing to be unlinked: the exchange is undone and DEST renamed over', async (t) => {
  const dir = caseDir(t, 'ext4');
  if (!dir) return;
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fill(src, 0x99);
  fill(dst, 0xaa);
  const oldFd = fs.openSync(dst, 'r');
  t.teardown(() => fs.closeSync(oldFd));
  let refused = false;
  const { sys, calls } = recording({
    unlink(p) {
      if (!refused && path.basename(String(p)).startsWith('.tscp-')) {
        refused = true;
        throw sysError('EACCES', 'unlink');
      }
      linuxSys.unlink(p);
    },
  });
  await copy(src, dst, { sys });
  t.ok(refused, 'the unlink was refused once');
  t.equal(calls.exchange.length, 2, 'exchanged, then exchanged back');
  t.equal(calls.rename.length, 1, 'then renamed over DEST');
  t.ok(fs.readFileSync(dst).equals(Buffer.alloc(64 * K, 0x99)), "DEST holds SOURCE's bytes");
  t.equal(fs.fstatSync(oldFd).nlink, 0, 'the old file has no name left');
  t.same(temps(dir), [], 'no temporary file left');
});

t.test('ext4: a DEST with two hard links is still written in place, without an exchange', async (t) => {
  const dir = caseDir(t, 'ext4');
  if (!dir) return;
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fill(src, 0xbb);
  fill(dst, 0xcc);
  fs.linkSync(dst, path.join(dir, 'other'));
  const oldIno = fs.statSync(dst).ino;
  const { sys, calls } = recording();
  const r = await copy(src, dst, { sys });
  t.equal(r.inPlace, true, 'written in place');
  t.equal(fs.statSync(dst).ino, oldIno, 'same inode');
  t.ok(fs.readFileSync(path.join(dir, 'other')).equals(Buffer.alloc(64 * K, 0xbb)), 'the other name shows the new bytes');
  t.same(calls.exchange, [], 'no exchange');
});

t.test('ext4: DEST appearing during the copy: kept with noClobber, exchanged with the unnamed file otherwise', async (t) => {
  const dir = caseDir(t, 'ext4');
  if (!dir) return;
  const src = path.join(dir, 'src');
  fill(src, 0xdd);
  for (const noClobber of [true, false]) {
    const dst = path.join(dir, `dst-${noClobber}`);
    // fchmod is the engine's last call on the new file before it takes DEST's name.
    const { sys, calls } = recording({
      fchmod(fd, mode) {
        if (!fs.existsSync(dst)) fill(dst, 0xee);
        linuxSys.fchmod(fd, mode);
      },
    });
    const run = copy(src, dst, { sys, noClobber, unnamedTemp: true });
    if (noClobber) {
      t.match(await rejection(run), { kind: 'exists' }, 'noClobber: the copy says DEST exists');
      t.ok(fs.readFileSync(dst).equals(Buffer.alloc(64 * K, 0xee)), 'noClobber: DEST kept');
      t.same(calls.exchange, [], 'noClobber: no exchange');
    } else {
      await run;
      t.ok(fs.readFileSync(dst).equals(Buffer.alloc(64 * K, 0xdd)), "otherwise: DEST holds SOURCE's bytes");
      t.equal(calls.exchange.length, 1, 'otherwise: exchanged with the named link of the unnamed file');
      t.same(calls.rename, [], 'otherwise: no rename');
    }
  }
  t.same(temps(dir), [], 'no temporary file left');
});

t.test('ext4: a new DEST is renamed into place, without trying an exchange', async (t) => {
  const dir = caseDir(t, 'ext4');
  if (!dir) return;
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fill(src, 0x12);
  const { sys, calls } = recording();
  await copy(src, dst, { sys });
  t.ok(fs.readFileSync(dst).equals(Buffer.alloc(64 * K, 0x12)), "DEST holds SOURCE's bytes");
  t.same(calls.exchange, [], 'no exchange tried');
  t.equal(calls.rename.length, 1, 'one rename');
  t.same(temps(dir), [], 'no temporary file left');
});

t.test('ext4: a symlink at DEST stays; the file it points to is exchanged', async (t) => {
  const dir = caseDir(t, 'ext4');
  if (!dir) return;
  const src = path.join(dir, 'src');
  const real = path.join(dir, 'real');
  const link = path.join(dir, 'link');
  fill(src, 0x21);
  fill(real, 0x43);
  fs.symlinkSync('real', link);
  const { sys, calls } = recording();
  await copy(src, link, { sys });
  t.ok(fs.lstatSync(link).isSymbolicLink(), 'DEST is still the symlink');
  t.equal(fs.readlinkSync(link), 'real', 'pointing where it did');
  t.ok(fs.readFileSync(real).equals(Buffer.alloc(64 * K, 0x21)), "the file it points to holds SOURCE's bytes");
  t.same(calls.exchange.map(([, b]) => b), [real], 'exchanged with the file the link points to');
  t.same(temps(dir), [], 'no temporary file left');
});
