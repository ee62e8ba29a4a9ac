/**
 * The sys layer against the real kernel, on the host's own filesystem under /var/tmp
 * (ext4 on the CI machine: no reflink, no dedupe, but SEEK_DATA/SEEK_HOLE, FIEMAP,
 * copy_file_range, sendfile and hole punching all work).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  FIEMAP_EXTENT_LAST,
  SEEK_DATA,
  SEEK_HOLE,
  SEEK_SET,
  SysError,
  copyFileRangeSyscallNumber,
  linuxSys as sys,
} from '../../src/sys/index.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const SEEK_CUR = 1;

interface Teardown {
  teardown(fn: () => void): void;
}

function scratch(t: Teardown): string {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'tscp-unit-sys-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Open with node:fs and close at teardown. */
function open(t: Teardown, file: string, flags: string | number): number {
  const fd = fs.openSync(file, flags);
  t.teardown(() => {
    try {
      fs.closeSync(fd);
    } catch {
      // closed by the test
    }
  });
  return fd;
}

/** JSON for a failure message: bigints (which JSON.stringify refuses) as their digits. */
function json(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

const hostFs = execFileSync('stat', ['-f', '-c', '%T', '/var/tmp'], { encoding: 'utf8' }).trim();

t.test('copyFileRangeSyscallNumber', async (t) => {
  t.equal(copyFileRangeSyscallNumber('x64'), 326);
  t.equal(copyFileRangeSyscallNumber('arm64'), 285);
  t.equal(copyFileRangeSyscallNumber('riscv64'), 285);
  t.equal(copyFileRangeSyscallNumber('ia32'), 377);
  t.equal(copyFileRangeSyscallNumber(), copyFileRangeSyscallNumber(process.arch), 'defaults to this machine');
  t.throws(() => copyFileRangeSyscallNumber('ppc64'), { message: /copy_file_range syscall number on architecture 'ppc64'/ });
  t.throws(() => copyFileRangeSyscallNumber('ppc64'), { message: /supported: x64, arm64/ }, 'lists what is supported');
  t.throws(() => copyFileRangeSyscallNumber('mips'));
});

t.test('open, fstat, stat, close', async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, 'hello');
  const fd = sys.open(file, fs.constants.O_RDONLY);
  const st = sys.fstat(fd);
  t.equal(st.size, 5n, 'size is an exact bigint');
  t.equal(st.isFile, true);
  t.equal(st.isDirectory, false);
  t.ok(st.blksize > 0);
  sys.close(fd);
  t.equal((caught(() => sys.fstat(fd)) as SysError).code, 'EBADF', 'closed');

  const missing = caught(() => sys.open(path.join(dir, 'nope'), fs.constants.O_RDONLY));
  t.type(missing, SysError);
  t.match(missing, { code: 'ENOENT', syscall: 'open', path: path.join(dir, 'nope') });
  t.match((missing as Error).message, /No such file or directory \(ENOENT\)/);

  fs.symlinkSync(file, path.join(dir, 'link'));
  t.equal(sys.stat(path.join(dir, 'link')).isFile, true, 'stat follows');
  t.equal(sys.stat(path.join(dir, 'link'), false).isSymbolicLink, true, 'lstat does not');
  t.equal(sys.stat(dir).isDirectory, true);
  t.match(caught(() => sys.stat(path.join(dir, 'nope'))), { code: 'ENOENT', syscall: 'stat' });
  t.equal(sys.realpath(path.join(dir, 'link')), fs.realpathSync(file));
});

t.test('lseek SEEK_DATA / SEEK_HOLE on a sparse file', async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'sparse');
  const size = 4 * MiB;
  const w = fs.openSync(file, 'w');
  fs.writeSync(w, randomBytes(64 * KiB), 0, 64 * KiB, MiB);
  fs.writeSync(w, randomBytes(64 * KiB), 0, 64 * KiB, 3 * MiB);
  fs.ftruncateSync(w, size);
  fs.closeSync(w);
  const fd = open(t, file, 'r');

  t.equal(sys.lseek(fd, 0, SEEK_DATA), BigInt(MiB), 'first data');
  t.equal(sys.lseek(fd, MiB, SEEK_HOLE), BigInt(MiB + 64 * KiB), 'end of first data');
  t.equal(sys.lseek(fd, MiB + 64 * KiB, SEEK_DATA), BigInt(3 * MiB), 'second data');
  t.equal(sys.lseek(fd, 3 * MiB, SEEK_HOLE), BigInt(3 * MiB + 64 * KiB));
  t.equal(sys.lseek(fd, 3 * MiB + 64 * KiB, SEEK_DATA), null, 'no data after the last segment: null, not ENXIO');
  t.equal(sys.lseek(fd, 3 * MiB + 64 * KiB, SEEK_HOLE), BigInt(3 * MiB + 64 * KiB));
  t.equal(sys.lseek(fd, size, SEEK_DATA), null, 'at EOF');
  t.equal(sys.lseek(fd, size + 10, SEEK_HOLE), null, 'past EOF: ENXIO too');
  t.equal(sys.lseek(fd, 0, 0 /* SEEK_SET */), 0n);
  t.equal(sys.lseek(fd, 12345, SEEK_SET), 12345n);
  t.equal(sys.lseek(fd, 0, SEEK_CUR), 12345n);
  t.equal(sys.lseek(fd, 5 * 1024 * MiB, SEEK_SET), BigInt(5 * 1024 * MiB), 'offsets past 4 GiB');
  // Offsets may be given as bigints too; the answer is the same exact bigint.
  t.equal(sys.lseek(fd, 0n, SEEK_DATA), BigInt(MiB), 'a bigint offset: first data');
  t.equal(sys.lseek(fd, BigInt(3 * MiB), SEEK_HOLE), BigInt(3 * MiB + 64 * KiB), 'a bigint offset: end of second data');
  t.equal(sys.lseek(fd, BigInt(size), SEEK_DATA), null, 'a bigint offset at EOF');
  t.equal(sys.lseek(fd, 5n * 1024n * BigInt(MiB) + 1n, SEEK_SET), 5n * 1024n * BigInt(MiB) + 1n, 'a bigint offset past 4 GiB');

  const einval = caught(() => sys.lseek(fd, -1, SEEK_SET));
  t.type(einval, SysError);
  t.match(einval, { code: 'EINVAL', syscall: 'lseek' });
  t.match(caught(() => sys.lseek(fd, -1n, SEEK_SET)), { code: 'EINVAL', syscall: 'lseek' }, 'a negative bigint too');
  t.match(caught(() => sys.lseek(fd, 0, 99)), { code: 'EINVAL' });
  t.match(caught(() => sys.lseek(1_000_000, 0, SEEK_DATA)), { code: 'EBADF' }, 'other errnos are errors, even for SEEK_DATA');
});

t.test('fiemap returns extents covering the written data', async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'f');
  const size = 4 * MiB;
  const data: [number, number][] = [
    [0, 64 * KiB],
    [2 * MiB, 128 * KiB],
  ];
  const w = fs.openSync(file, 'w');
  for (const [off, len] of data) fs.writeSync(w, randomBytes(len), 0, len, off);
  fs.ftruncateSync(w, size);
  fs.closeSync(w);
  const fd = open(t, file, 'r');

  for (const sync of [true, false]) {
    const extents = sys.fiemap(fd, 0, size, sync);
    t.ok(extents.length >= 2, `sync=${sync}: at least one extent per data segment`);
    for (const [off, len] of data) {
      // Every written byte lies in some extent.
      for (let pos = BigInt(off); pos < BigInt(off + len); ) {
        const e = extents.find((x) => x.logical <= pos && pos < x.logical + x.length);
        if (!e) {
          t.fail(`sync=${sync}: byte ${pos} not covered by any extent: ${json(extents)}`);
          break;
        }
        pos = e.logical + e.length;
      }
    }
    for (const x of extents) {
      t.type(x.logical, 'bigint', `sync=${sync}: logical is a bigint`);
      t.type(x.physical, 'bigint', `sync=${sync}: physical is a bigint`);
      t.type(x.length, 'bigint', `sync=${sync}: length is a bigint`);
    }
    // Nothing mapped in the hole between the two segments.
    t.notOk(
      extents.some((x) => x.logical < 2n * BigInt(MiB) && x.logical + x.length > BigInt(MiB)),
      `sync=${sync}: no extent in the hole [1 MiB, 2 MiB)`,
    );
    t.ok(extents[extents.length - 1]!.flags & FIEMAP_EXTENT_LAST, `sync=${sync}: the last extent is flagged LAST`);
    t.equal(extents.filter((x) => x.flags & FIEMAP_EXTENT_LAST).length, 1, `sync=${sync}: once`);
  }
  const part = sys.fiemap(fd, 2 * MiB, 64 * KiB, true);
  t.ok(part.length >= 1, 'a sub-range');
  t.ok(
    part.every((x) => x.logical < BigInt(2 * MiB + 64 * KiB) && x.logical + x.length > BigInt(2 * MiB)),
    'only extents meeting the sub-range',
  );
  t.strictSame(sys.fiemap(fd, BigInt(2 * MiB), BigInt(64 * KiB), true), part, 'the same sub-range given as bigints');
  t.same(sys.fiemap(fd, MiB, 64 * KiB, true), [], 'a hole has no extent');
  t.same(sys.fiemap(fd, BigInt(MiB), BigInt(64 * KiB), true), [], 'a hole has no extent (bigint range)');
  t.match(caught(() => sys.fiemap(1_000_000, 0, 10)), { code: 'EBADF', syscall: 'ioctl(FS_IOC_FIEMAP)' });
});

t.test('copyFileRange copies bytes between two files at explicit offsets', async (t) => {
  const dir = scratch(t);
  const data = randomBytes(300 * KiB);
  fs.writeFileSync(path.join(dir, 'a'), data);
  const a = open(t, path.join(dir, 'a'), 'r');
  const b = open(t, path.join(dir, 'b'), 'w+');

  let done = 0;
  while (done < data.length) {
    const n = sys.copyFileRange(a, done, b, done, data.length - done);
    t.ok(n > 0, 'progress');
    done += n;
  }
  t.same(fs.readFileSync(path.join(dir, 'b')), data, 'identical bytes');
  t.equal(sys.lseek(a, 0, SEEK_CUR), 0n, 'fd positions untouched (explicit offsets)');
  t.equal(sys.lseek(b, 0, SEEK_CUR), 0n);

  // A range to another offset.
  const n = sys.copyFileRange(a, 1000, b, 400 * KiB, 5000);
  t.equal(n, 5000);
  const out = fs.readFileSync(path.join(dir, 'b'));
  t.equal(out.length, 400 * KiB + 5000);
  t.same(out.subarray(400 * KiB), data.subarray(1000, 6000));

  t.equal(sys.copyFileRange(a, data.length, b, 0, 100), 0, '0 at SOURCE EOF');
  t.equal(sys.copyFileRange(a, data.length - 10, b, 0, 100), 10, 'short at EOF');
  t.equal(sys.copyFileRange(a, 5 * 1024 * MiB, b, 0, 100), 0, 'offsets past 4 GiB are passed as 64-bit');
  t.equal(sys.copyFileRange(a, 5n * 1024n * BigInt(MiB), b, 0n, 100), 0, 'bigint offsets past 4 GiB too');
  t.equal(sys.copyFileRange(a, BigInt(data.length - 10), b, 0n, 100), 10, 'bigint offsets: short at EOF');
  t.same(fs.readFileSync(path.join(dir, 'b')).subarray(0, 10), data.subarray(data.length - 10), 'bigint offsets: the right bytes');

  const ebadf = caught(() => sys.copyFileRange(b, 0, a, 0, 10));
  t.type(ebadf, SysError, 'DEST opened read-only');
  t.match(ebadf, { code: 'EBADF', syscall: 'copy_file_range' });
  t.match(caught(() => sys.copyFileRange(b, 0, b, 10, 100)), { code: 'EINVAL' }, 'overlapping ranges in one file');
});

t.test('sendfile copies bytes at DEST position', async (t) => {
  const dir = scratch(t);
  const data = randomBytes(200 * KiB);
  fs.writeFileSync(path.join(dir, 'a'), data);
  const a = open(t, path.join(dir, 'a'), 'r');
  const b = open(t, path.join(dir, 'b'), 'w+');

  let done = 0;
  while (done < data.length) done += sys.sendfile(b, a, done, data.length - done);
  t.same(fs.readFileSync(path.join(dir, 'b')), data);
  t.equal(sys.lseek(a, 0, SEEK_CUR), 0n, 'SOURCE position untouched (explicit offset)');
  t.equal(sys.lseek(b, 0, SEEK_CUR), BigInt(data.length), 'DEST position advanced');

  sys.lseek(b, 10, SEEK_SET);
  t.equal(sys.sendfile(b, a, 500, 100), 100);
  t.same(fs.readFileSync(path.join(dir, 'b')).subarray(10, 110), data.subarray(500, 600), 'written at DEST position');
  t.equal(sys.sendfile(b, a, data.length, 100), 0, '0 at EOF');
  sys.lseek(b, 20n, SEEK_SET);
  t.equal(sys.sendfile(b, a, 700n, 100), 100, 'a bigint SOURCE offset');
  t.same(fs.readFileSync(path.join(dir, 'b')).subarray(20, 120), data.subarray(700, 800), 'written at DEST position (bigint offset)');
  t.match(caught(() => sys.sendfile(a, b, 0, 10)), { code: 'EBADF', syscall: 'sendfile' });
});

t.test('pread, pwrite, ftruncate, punchHole, fchmod, fsync, rename, unlink, fsType', async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'f');
  const fd = open(t, file, 'w+');
  const data = randomBytes(256 * KiB);
  t.equal(sys.pwrite(fd, data, data.length, 0), data.length);
  const buf = Buffer.alloc(100);
  t.equal(sys.pread(fd, buf, 100, 1000), 100);
  t.same(buf, data.subarray(1000, 1100));
  t.equal(sys.pread(fd, buf, 100, data.length), 0, 'EOF');
  t.equal(sys.pread(fd, buf, 100, 2000n), 100, 'a bigint position');
  t.same(buf, data.subarray(2000, 2100));
  t.equal(sys.pwrite(fd, data.subarray(0, 100), 100, 3000n), 100, 'pwrite at a bigint position');
  data.copy(data, 3000, 0, 100);
  t.same(fs.readFileSync(file), data, 'written at that position');
  sys.fsync(fd);

  const before = fs.statSync(file).blocks;
  sys.punchHole(fd, 64 * KiB, 128 * KiB);
  const after = fs.readFileSync(file);
  t.equal(after.length, data.length, 'KEEP_SIZE');
  t.ok(after.subarray(64 * KiB, 192 * KiB).every((b) => b === 0), 'punched bytes read as zeros');
  t.same(after.subarray(0, 64 * KiB), data.subarray(0, 64 * KiB), 'bytes before untouched');
  t.same(after.subarray(192 * KiB), data.subarray(192 * KiB), 'bytes after untouched');
  t.ok(fs.statSync(file).blocks < before, 'blocks freed');
  t.equal(sys.lseek(fd, 64 * KiB, SEEK_DATA), BigInt(192 * KiB), 'a hole now');

  sys.ftruncate(fd, 5 * 1024 * MiB);
  t.equal(fs.statSync(file).size, 5 * 1024 * MiB, 'ftruncate past 4 GiB');
  t.equal(sys.fstat(fd).size, BigInt(5 * 1024 * MiB));
  sys.ftruncate(fd, 10n);
  t.equal(fs.statSync(file).size, 10);
  t.equal(sys.fstat(fd).size, 10n);
  sys.fchmod(fd, 0o640);
  t.equal(fs.statSync(file).mode & 0o777, 0o640);
  sys.rename(file, path.join(dir, 'g'));
  t.ok(fs.existsSync(path.join(dir, 'g')));
  t.match(caught(() => sys.rename(file, path.join(dir, 'h'))), { code: 'ENOENT', syscall: 'rename' });
  sys.unlink(path.join(dir, 'g'));
  t.notOk(fs.existsSync(path.join(dir, 'g')));
  t.match(caught(() => sys.unlink(path.join(dir, 'g'))), { code: 'ENOENT' });
  t.equal(sys.fsType(dir), fs.statfsSync(dir).type);
  if (hostFs === 'ext2/ext3') t.equal(sys.fsType(dir), 0xef53, 'ext4 magic');
});

t.test('exchange: two names swap files in one call (renameat2 RENAME_EXCHANGE)', async (t) => {
  const dir = scratch(t);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  fs.writeFileSync(a, 'first');
  fs.writeFileSync(b, 'second');
  const [inoA, inoB] = [fs.statSync(a).ino, fs.statSync(b).ino];
  sys.exchange(a, b);
  t.equal(fs.readFileSync(a, 'utf8'), 'second');
  t.equal(fs.readFileSync(b, 'utf8'), 'first');
  t.same([fs.statSync(a).ino, fs.statSync(b).ino], [inoB, inoA], 'the inodes changed names');
  t.match(caught(() => sys.exchange(a, path.join(dir, 'missing'))), { code: 'ENOENT', syscall: 'renameat2' }, 'both names must exist');
  t.same(fs.readdirSync(dir).sort(), ['a', 'b'], 'nothing else made');
});

t.test(`ficlone, ficloneRange and dedupeRange on the host filesystem (${hostFs})`, async (t) => {
  const dir = scratch(t);
  const data = randomBytes(64 * KiB);
  fs.writeFileSync(path.join(dir, 'a'), data);
  fs.writeFileSync(path.join(dir, 'b'), data);
  const a = open(t, path.join(dir, 'a'), 'r');
  const b = open(t, path.join(dir, 'b'), 'r+');
  const c = open(t, path.join(dir, 'c'), 'w');

  for (const [name, fn] of [
    ['ficlone', () => sys.ficlone(c, a)],
    ['ficloneRange', () => sys.ficloneRange(b, a, 0, 4096, 0)],
    ['dedupeRange', () => sys.dedupeRange(a, 0, 4096, b, 0)],
  ] as const) {
    const err = caught(fn);
    t.type(err, SysError, `${name} fails on ${hostFs}`);
    t.ok(['EOPNOTSUPP', 'EXDEV'].includes((err as SysError).code), `${name}: ${(err as SysError).code}`);
    t.match((err as SysError).syscall, /^ioctl\(FI/);
  }
  t.equal(fs.statSync(path.join(dir, 'c')).size, 0, 'nothing cloned');
  t.same(fs.readFileSync(path.join(dir, 'b')), data, 'nothing changed');
  t.match(caught(() => sys.ficlone(c, 1_000_000)), { code: 'EBADF' });
});

t.test('getInodeFlags, setInodeFlags (as lsattr/chattr see them) and removeXattr', async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, '');
  const fd = open(t, file, 'r');
  const FS_NODUMP_FL = 0x40;
  const before = sys.getInodeFlags(fd);
  t.equal(before & FS_NODUMP_FL, 0, 'a new file has no d');
  sys.setInodeFlags(fd, before | FS_NODUMP_FL);
  t.equal(sys.getInodeFlags(fd), before | FS_NODUMP_FL, 'the flag reads back');
  t.match(execFileSync('lsattr', ['-d', file], { encoding: 'utf8' }), /^\S*d\S* /, 'lsattr shows d');
  execFileSync('chattr', ['-d', '+A', file]);
  t.equal(sys.getInodeFlags(fd) & (FS_NODUMP_FL | 0x80), 0x80, 'chattr -d +A reads as FS_NOATIME_FL alone');
  t.match(caught(() => sys.getInodeFlags(1_000_000)), { code: 'EBADF', syscall: 'ioctl(FS_IOC_GETFLAGS)' });

  sys.setXattr(fd, 'user.a', Buffer.from('1'));
  sys.setXattr(file, 'user.b', Buffer.from('2'));
  sys.removeXattr(fd, 'user.a');
  sys.removeXattr(file, 'user.b');
  t.same(sys.listXattrs(fd), [], 'both removed (by descriptor and by path)');
  t.match(caught(() => sys.removeXattr(fd, 'user.a')), { code: 'ENODATA', syscall: 'fremovexattr' });
  t.match(caught(() => sys.removeXattr(file, 'user.a')), { code: 'ENODATA', syscall: 'lremovexattr' });
});
