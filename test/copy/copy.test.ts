/**
 * copy() end to end through the engine, in-process, on real files in a scratch directory
 * under /var/tmp. Errnos no filesystem produces on demand are injected by a Sys wrapping
 * linuxSys; everything else is the real kernel.
 *
 * These tests expect /var/tmp to be unable to share extents (ext4 here): with the real
 * calls, reflink is refused and the chain moves on to copy_file_range.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TEMP_PREFIX, copy } from '../../src/copy/copy.js';
import { CopyError } from '../../src/copy/errors.js';
import type { CopyOptions, CopyResult, Fallback, Method } from '../../src/copy/types.js';
import { FILE_DEDUPE_RANGE_DIFFERS, SEEK_DATA, SysError, linuxSys, type Sys } from '../../src/sys/index.js';
import { KiB, MiB, capped, rejection, sysError, type Teardown } from '../helpers/faults.js';

const CHUNK = 64 * KiB;
const SIZE = 256 * KiB;

function scratch(t: Teardown): string {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'tscp-unit-copy-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Setup {
  dir: string;
  src: string;
  dst: string;
  data: Buffer;
}

/** SOURCE with `data`; DEST with `old` if given, else absent. */
function setup(t: Teardown, data: Buffer = randomBytes(SIZE), old?: Buffer): Setup {
  const dir = scratch(t);
  const src = path.join(dir, 'src.bin');
  const dst = path.join(dir, 'dst.bin');
  fs.writeFileSync(src, data);
  if (old) fs.writeFileSync(dst, old);
  return { dir, src, dst, data };
}

function temps(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX));
}

/** copy_file_range failing with `code` on call number `n`, moving CHUNK per call before. */
function failingCopyFileRange(code: string, n: number): { sys: Sys; calls: () => number } {
  let calls = 0;
  const cap = capped(CHUNK);
  return {
    sys: {
      ...linuxSys,
      copyFileRange(...args) {
        if (++calls === n) throw sysError(code, 'copy_file_range');
        return cap(...args);
      },
    },
    calls: () => calls,
  };
}

function hasFallback(fallbacks: Fallback[], f: Fallback): boolean {
  return fallbacks.some((x) => x.from === f.from && x.to === f.to && x.errno === f.errno);
}

t.test('precondition: the scratch filesystem cannot share extents', async (t) => {
  const s = setup(t);
  const a = fs.openSync(s.src, 'r');
  const b = fs.openSync(s.dst, 'w');
  let code: string | undefined;
  try {
    linuxSys.ficlone(b, a);
  } catch (err) {
    code = (err as SysError).code;
  } finally {
    fs.closeSync(a);
    fs.closeSync(b);
  }
  t.ok(code === 'EOPNOTSUPP' || code === 'EXDEV', `FICLONE under /var/tmp answers ${code} (these tests assume no reflink)`);
});

t.test('a whole file with the real calls', async (t) => {
  const s = setup(t);
  fs.chmodSync(s.src, 0o664);
  const r = await copy(s.src, s.dst, { umask: 0o022 });
  t.ok(fs.readFileSync(s.dst).equals(s.data), 'identical bytes');
  t.match(r, { source: s.src, dest: s.dst, mode: 'auto', range: null, totalBytes: SIZE });
  t.equal(r.bytes.copyFileRange, SIZE);
  t.equal(r.bytes.reflinked, 0);
  t.same(r.fallbacks, [{ from: 'reflink', to: 'copy_file_range', errno: 'EOPNOTSUPP' }]);
  t.equal(r.sharedBytes, 0, 'ext4 shares nothing');
  t.ok(r.durationMs >= 0);
  t.equal(fs.statSync(s.dst).mode & 0o7777, 0o644, 'a new DEST gets SOURCE mode & ~umask');
  t.same(temps(s.dir), [], 'no temporary file left');
});

t.test('an existing DEST is replaced but keeps its mode; a directory DEST gets basename(SOURCE)', async (t) => {
  const s = setup(t, randomBytes(SIZE), Buffer.from('old content'));
  fs.chmodSync(s.dst, 0o600);
  fs.chmodSync(s.src, 0o755);
  await copy(s.src, s.dst);
  t.ok(fs.readFileSync(s.dst).equals(s.data));
  t.equal(fs.statSync(s.dst).mode & 0o7777, 0o600);

  const sub = path.join(s.dir, 'sub');
  fs.mkdirSync(sub);
  const r = await copy(s.src, sub);
  t.equal(r.dest, path.join(sub, 'src.bin'));
  t.ok(fs.readFileSync(path.join(sub, 'src.bin')).equals(s.data));
  t.same(temps(s.dir), []);
  t.same(temps(sub), []);
});

t.test('the temporary file is private (0600) while bytes are going in', async (t) => {
  const s = setup(t);
  fs.chmodSync(s.src, 0o644);
  const modes: number[] = [];
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(fdIn, offIn, fdOut, offOut, len) {
      modes.push(fs.fstatSync(fdOut).mode & 0o777);
      return linuxSys.copyFileRange(fdIn, offIn, fdOut, offOut, len);
    },
  };
  await copy(s.src, s.dst, { sys });
  t.ok(modes.length > 0);
  t.ok(modes.every((m) => m === 0o600), `modes seen: ${modes.map((m) => m.toString(8))}`);
});

t.test('EIO from copy_file_range after the first chunk: error, new DEST not created, no temporary file', async (t) => {
  const s = setup(t);
  const { sys, calls } = failingCopyFileRange('EIO', 2);
  const err = await rejection(copy(s.src, s.dst, { sys }));
  t.type(err, CopyError);
  t.match(err, { kind: 'system', code: 'EIO', source: s.src, dest: s.dst });
  t.equal(err?.bytesCopied, CHUNK, 'bytesCopied equals what was moved');
  t.match(err?.message, /Input\/output error \(EIO\)$/);
  t.equal(calls(), 2);
  t.notOk(fs.existsSync(s.dst), 'DEST not created');
  t.same(temps(s.dir), [], 'no temporary file left');
});

t.test('EIO after the first chunk: an existing DEST is untouched', async (t) => {
  const old = Buffer.from('the old DEST content');
  const s = setup(t, randomBytes(SIZE), old);
  const before = fs.statSync(s.dst);
  const err = await rejection(copy(s.src, s.dst, { sys: failingCopyFileRange('EIO', 2).sys }));
  t.match(err, { kind: 'system', code: 'EIO', bytesCopied: CHUNK });
  t.ok(fs.readFileSync(s.dst).equals(old), 'DEST content unchanged');
  t.equal(fs.statSync(s.dst).ino, before.ino, 'same file: nothing renamed over it');
  t.same(temps(s.dir), []);
});

for (const code of ['EXDEV', 'EOPNOTSUPP', 'EINVAL']) {
  t.test(`${code} on the first copy_file_range call falls back to sendfile`, async (t) => {
    const s = setup(t);
    const { sys, calls } = failingCopyFileRange(code, 1);
    const r = await copy(s.src, s.dst, { sys });
    t.ok(fs.readFileSync(s.dst).equals(s.data), 'identical bytes');
    t.equal(calls(), 1);
    t.ok(hasFallback(r.fallbacks, { from: 'copy_file_range', to: 'sendfile', errno: code }), `fallbacks: ${JSON.stringify(r.fallbacks)}`);
    t.equal(r.fallbacks[r.fallbacks.length - 1]?.errno, code, 'recorded last, after the reflink refusal');
    t.equal(r.bytes.sendfile, SIZE);
    t.equal(r.bytes.copyFileRange, 0);
    t.same(temps(s.dir), []);
  });
}

t.test('EXDEV after bytes were copied is an error, not a fallback', async (t) => {
  const s = setup(t);
  let sendfiles = 0;
  const { sys } = failingCopyFileRange('EXDEV', 2);
  const err = await rejection(
    copy(s.src, s.dst, {
      sys: {
        ...sys,
        sendfile(...args) {
          sendfiles++;
          return linuxSys.sendfile(...args);
        },
      },
    }),
  );
  t.type(err, CopyError);
  t.match(err, { kind: 'system', code: 'EXDEV', bytesCopied: CHUNK });
  t.equal(sendfiles, 0, 'no sendfile');
  t.notOk(err?.fallbacks.some((f) => f.from === 'copy_file_range'), 'no copy_file_range fallback recorded');
  t.notOk(fs.existsSync(s.dst));
  t.same(temps(s.dir), []);
});

t.test('EINTR from copy_file_range is retried', async (t) => {
  const s = setup(t);
  let calls = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      if (++calls % 2 === 1) throw sysError('EINTR', 'copy_file_range');
      return cap(...args);
    },
  };
  const r = await copy(s.src, s.dst, { sys });
  t.ok(fs.readFileSync(s.dst).equals(s.data), 'identical bytes');
  t.equal(r.bytes.copyFileRange, SIZE);
  t.notOk(r.fallbacks.some((f) => f.from === 'copy_file_range'));
  t.equal(calls, 2 * (SIZE / CHUNK));
});

t.test('EINTR from pread is retried', async (t) => {
  const s = setup(t);
  let preads = 0;
  const sys: Sys = {
    ...linuxSys,
    // Reach read/write the way a /proc file does: the kernel's copy says 0 at once.
    copyFileRange: () => 0,
    pread(fd, buf, len, pos) {
      if (++preads % 2 === 1) throw sysError('EINTR', 'read');
      return linuxSys.pread(fd, buf, Math.min(len, CHUNK), pos);
    },
  };
  const r = await copy(s.src, s.dst, { sys });
  t.ok(fs.readFileSync(s.dst).equals(s.data), 'identical bytes');
  t.equal(r.bytes.readWrite, SIZE);
  t.equal(preads, 2 * (SIZE / CHUNK));
});

t.test('copy_file_range returning 0 mid-file: read/write finishes, fallback errno EOF', async (t) => {
  const s = setup(t);
  let calls = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      return ++calls === 1 ? cap(...args) : 0;
    },
  };
  const r = await copy(s.src, s.dst, { sys });
  t.ok(fs.readFileSync(s.dst).equals(s.data), 'identical bytes');
  t.ok(hasFallback(r.fallbacks, { from: 'copy_file_range', to: 'read_write', errno: 'EOF' }), JSON.stringify(r.fallbacks));
  t.equal(r.bytes.copyFileRange, CHUNK);
  t.equal(r.bytes.readWrite, SIZE - CHUNK);
  t.equal(r.totalBytes, SIZE);
});

t.test('pread returning 0 before the end: source-changed, terminates, DEST untouched', async (t) => {
  const old = Buffer.from('old');
  const s = setup(t, randomBytes(SIZE), old);
  let preads = 0;
  const sys: Sys = {
    ...linuxSys,
    copyFileRange: () => 0,
    pread() {
      if (++preads > 20) throw new Error('pread called over and over: the copy spins');
      return 0;
    },
  };
  const err = await rejection(copy(s.src, s.dst, { sys }));
  t.type(err, CopyError);
  t.match(err, { kind: 'source-changed' });
  t.equal(preads, 1);
  t.ok(fs.readFileSync(s.dst).equals(old), 'DEST unchanged');
  t.same(temps(s.dir), []);
});

t.test('short copies (at most 1000 bytes per call) give identical bytes', async (t) => {
  const s = setup(t, randomBytes(100 * KiB + 3));
  let calls = 0;
  const cap = capped(1000);
  const r = await copy(s.src, s.dst, {
    sys: {
      ...linuxSys,
      copyFileRange(...args) {
        calls++;
        return cap(...args);
      },
    },
  });
  t.ok(fs.readFileSync(s.dst).equals(s.data));
  t.equal(r.bytes.copyFileRange, s.data.length);
  t.equal(calls, Math.ceil(s.data.length / 1000));
});

t.test("mode 'always' when FICLONE says EOPNOTSUPP: error, DEST unchanged", async (t) => {
  const sys: Sys = {
    ...linuxSys,
    ficlone() {
      throw sysError('EOPNOTSUPP', 'ioctl(FICLONE)');
    },
  };
  const old = Buffer.from('keep me');
  const s = setup(t, randomBytes(SIZE), old);
  const err = await rejection(copy(s.src, s.dst, { mode: 'always', sys }));
  t.type(err, CopyError);
  t.match(err, { kind: 'system', code: 'EOPNOTSUPP', bytesCopied: 0 });
  t.match(err?.message, /^cannot reflink '.*src\.bin' to '.*dst\.bin': Operation not supported \(EOPNOTSUPP\)$/);
  t.ok(fs.readFileSync(s.dst).equals(old), 'existing DEST unchanged');
  t.same(temps(s.dir), []);

  const fresh = path.join(s.dir, 'new.bin');
  t.match(await rejection(copy(s.src, fresh, { mode: 'always', sys })), { code: 'EOPNOTSUPP' });
  t.notOk(fs.existsSync(fresh), 'no DEST created');
  t.same(temps(s.dir), []);
});

t.test('an AbortSignal already aborted: interrupted, DEST unchanged, no temporary file', async (t) => {
  const old = Buffer.from('old');
  const s = setup(t, randomBytes(SIZE), old);
  const controller = new AbortController();
  controller.abort('SIGINT');
  const err = await rejection(copy(s.src, s.dst, { signal: controller.signal }));
  t.type(err, CopyError);
  t.match(err, { kind: 'interrupted', bytesCopied: 0 });
  t.ok(fs.readFileSync(s.dst).equals(old));
  t.same(temps(s.dir), []);
});

t.test('an AbortSignal aborted after the first chunk: interrupted, DEST unchanged, no temporary file', async (t) => {
  const old = Buffer.from('old');
  const s = setup(t, randomBytes(SIZE), old);
  const controller = new AbortController();
  const cap = capped(CHUNK);
  let calls = 0;
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      calls++;
      const n = cap(...args);
      controller.abort('SIGINT');
      return n;
    },
  };
  const err = await rejection(copy(s.src, s.dst, { sys, signal: controller.signal }));
  t.type(err, CopyError);
  t.match(err, { kind: 'interrupted', bytesCopied: CHUNK });
  t.equal(calls, 1, 'stopped at the next chunk');
  t.ok(fs.readFileSync(s.dst).equals(old), 'DEST unchanged');
  t.same(temps(s.dir), []);

  // A new DEST is not created either.
  const c2 = new AbortController();
  const fresh = path.join(s.dir, 'fresh.bin');
  const err2 = await rejection(
    copy(s.src, fresh, {
      signal: c2.signal,
      sys: {
        ...linuxSys,
        copyFileRange(...args) {
          const n = cap(...args);
          c2.abort();
          return n;
        },
      },
    }),
  );
  t.match(err2, { kind: 'interrupted' });
  t.notOk(fs.existsSync(fresh));
  t.same(temps(s.dir), []);
});

t.test('a reporter receives start, method, fallback and progress; final progress equals total', async (t) => {
  const s = setup(t);
  const events: [string, ...unknown[]][] = [];
  const sys: Sys = {
    ...linuxSys,
    copyFileRange() {
      throw sysError('EXDEV', 'copy_file_range');
    },
    sendfile(outFd, inFd, off, len) {
      return linuxSys.sendfile(outFd, inFd, off, Math.min(len, CHUNK));
    },
  };
  const r = await copy(s.src, s.dst, {
    sys,
    reporter: {
      start: (info) => events.push(['start', info]),
      method: (m: Method) => events.push(['method', m]),
      fallback: (f: Fallback) => events.push(['fallback', f]),
      progress: (done, total) => events.push(['progress', done, total]),
    },
  });
  t.same(events[0], ['start', { source: s.src, dest: s.dst, totalBytes: SIZE, mode: 'auto' }], 'start comes first');
  t.same(
    events.filter((e) => e[0] === 'method').map((e) => e[1]),
    ['reflink', 'copy_file_range', 'sendfile'],
  );
  t.same(
    events.filter((e) => e[0] === 'fallback').map((e) => e[1]),
    [
      { from: 'reflink', to: 'copy_file_range', errno: 'EOPNOTSUPP' },
      { from: 'copy_file_range', to: 'sendfile', errno: 'EXDEV' },
    ],
  );
  t.same(r.fallbacks, events.filter((e) => e[0] === 'fallback').map((e) => e[1]), 'result.fallbacks = the events');
  const progress = events.filter((e) => e[0] === 'progress');
  t.ok(progress.length >= SIZE / CHUNK);
  t.same(progress[progress.length - 1], ['progress', SIZE, SIZE], 'final progress equals the total');
  t.equal(r.totalBytes, SIZE);
});

t.test('a sparse whole file keeps its holes', async (t) => {
  const dir = scratch(t);
  const src = path.join(dir, 'sparse');
  const dst = path.join(dir, 'copy');
  const size = 8 * MiB;
  const data = Buffer.alloc(size);
  randomBytes(CHUNK).copy(data, 2 * MiB);
  randomBytes(CHUNK).copy(data, size - CHUNK);
  const w = fs.openSync(src, 'w');
  fs.writeSync(w, data, 2 * MiB, CHUNK, 2 * MiB);
  fs.writeSync(w, data, size - CHUNK, CHUNK, size - CHUNK);
  fs.closeSync(w);
  const r = await copy(src, dst);
  t.ok(fs.readFileSync(dst).equals(data), 'identical bytes');
  t.equal(r.bytes.holes, size - 2 * CHUNK);
  t.equal(r.bytes.copyFileRange, 2 * CHUNK);
  t.ok(fs.statSync(dst).blocks * 512 <= 4 * CHUNK, `allocated ${fs.statSync(dst).blocks * 512} bytes`);
  const fd = fs.openSync(dst, 'r');
  t.equal(linuxSys.lseek(fd, 0, SEEK_DATA), BigInt(2 * MiB), 'the leading hole is a hole');
  fs.closeSync(fd);

  // A trailing hole too.
  const tail = path.join(dir, 'tail');
  const w2 = fs.openSync(tail, 'w');
  fs.writeSync(w2, data, 2 * MiB, CHUNK, 0);
  fs.ftruncateSync(w2, 4 * MiB);
  fs.closeSync(w2);
  const r2 = await copy(tail, path.join(dir, 'tail-copy'));
  t.equal(fs.statSync(path.join(dir, 'tail-copy')).size, 4 * MiB);
  t.equal(r2.bytes.holes, 4 * MiB - CHUNK);
});

t.test('empty SOURCE, missing SOURCE, directory SOURCE', async (t) => {
  const s = setup(t, Buffer.alloc(0));
  const r = await copy(s.src, s.dst);
  t.equal(fs.statSync(s.dst).size, 0);
  t.equal(r.totalBytes, 0);

  const missing = path.join(s.dir, 'missing');
  const target = path.join(s.dir, 'never');
  const err = await rejection(copy(missing, target));
  t.match(err, { kind: 'system', code: 'ENOENT' });
  t.match(err?.message, /^cannot stat '.*missing': No such file or directory \(ENOENT\)$/, 'names SOURCE alone, as cp does');
  t.notOk(fs.existsSync(target));

  t.match(await rejection(copy(s.dir, target)), { kind: 'system', code: 'EISDIR' });
  t.notOk(fs.existsSync(target));
  t.same(temps(s.dir), []);
});

t.test('SOURCE and DEST the same file: refused by any path', async (t) => {
  const s = setup(t);
  fs.linkSync(s.src, path.join(s.dir, 'hard'));
  fs.symlinkSync(s.src, path.join(s.dir, 'soft'));
  for (const other of [s.src, path.join(s.dir, 'hard'), path.join(s.dir, 'soft'), s.dir]) {
    const err = await rejection(copy(s.src, other));
    t.match(err, { kind: 'same-file' }, other);
    t.match(err?.message, /are the same file/);
  }
  t.ok(fs.readFileSync(s.src).equals(s.data), 'SOURCE untouched');
  t.same(temps(s.dir), []);
});

t.test('a dangling symlink at DEST is not written through', async (t) => {
  const s = setup(t);
  const nowhere = path.join(s.dir, 'nowhere');
  fs.symlinkSync(nowhere, s.dst);
  const err = await rejection(copy(s.src, s.dst));
  t.match(err, { kind: 'system', code: 'ENOENT' });
  t.match(err?.message, /dangling symlink/);
  t.notOk(fs.existsSync(nowhere));
});

t.test('a symlink at DEST is written through', async (t) => {
  const s = setup(t, randomBytes(SIZE), Buffer.from('old'));
  const link = path.join(s.dir, 'link');
  fs.symlinkSync(s.dst, link);
  await copy(s.src, link);
  t.ok(fs.lstatSync(link).isSymbolicLink(), 'the link stays a link');
  t.ok(fs.readFileSync(s.dst).equals(s.data), 'its target got the bytes');
});

t.test('a range lands in place; DEST grows but never shrinks', async (t) => {
  const old = Buffer.alloc(100 * KiB, 0xaa);
  const s = setup(t, randomBytes(SIZE), old);
  const r = await copy(s.src, s.dst, { srcOffset: 1000, dstOffset: 5000, length: 20_000 });
  const out = fs.readFileSync(s.dst);
  t.equal(out.length, old.length, 'size unchanged');
  t.ok(out.subarray(5000, 25_000).equals(s.data.subarray(1000, 21_000)), 'range landed');
  t.ok(out.subarray(0, 5000).equals(old.subarray(0, 5000)), 'bytes before untouched');
  t.ok(out.subarray(25_000).equals(old.subarray(25_000)), 'bytes after untouched');
  t.same(r.range, { srcOffset: 1000, dstOffset: 5000, length: 20_000 });
  t.equal(r.totalBytes, 20_000);

  const grow = await copy(s.src, s.dst, { srcOffset: 0, dstOffset: 90 * KiB, length: 20 * KiB });
  t.equal(fs.statSync(s.dst).size, 110 * KiB, 'grew');
  t.equal(grow.totalBytes, 20 * KiB);

  const fresh = path.join(s.dir, 'fresh');
  await copy(s.src, fresh, { srcOffset: 0, dstOffset: MiB, length: 4096 });
  const f = fs.readFileSync(fresh);
  t.equal(f.length, MiB + 4096, 'a new DEST is created');
  t.ok(f.subarray(MiB).equals(s.data.subarray(0, 4096)));
  const fd = fs.openSync(fresh, 'r');
  t.equal(linuxSys.lseek(fd, 0, SEEK_DATA), BigInt(MiB), 'the gap before d is a hole');
  fs.closeSync(fd);

  const tail = await copy(s.src, fresh, { srcOffset: SIZE - 10 });
  t.equal(tail.range?.length, 10, 'length defaults to the rest of SOURCE');
  t.equal(fs.statSync(fresh).size, MiB + 4096, 'never shrinks');
});

t.test('bad ranges are refused before anything is written', async (t) => {
  const old = Buffer.alloc(1000, 1);
  const s = setup(t, randomBytes(SIZE), old);
  const fresh = path.join(s.dir, 'fresh');
  for (const o of [{ srcOffset: SIZE + 1 }, { srcOffset: 0, length: SIZE + 1 }, { srcOffset: SIZE - 10, length: 11 }] as CopyOptions[]) {
    for (const dest of [s.dst, fresh]) {
      const err = await rejection(copy(s.src, dest, o));
      t.match(err, { kind: 'usage', code: 'EINVAL' }, JSON.stringify(o));
      t.match(err?.message, /past the end of SOURCE.*\(EINVAL\)$/);
    }
  }
  t.ok(fs.readFileSync(s.dst).equals(old), 'existing DEST untouched');
  t.notOk(fs.existsSync(fresh), 'no DEST created');

  // One file as both: disjoint ranges are fine, overlapping ones are refused.
  await copy(s.src, s.src, { srcOffset: 0, dstOffset: 100 * KiB, length: 10 * KiB });
  const now = fs.readFileSync(s.src);
  t.ok(now.subarray(100 * KiB, 110 * KiB).equals(s.data.subarray(0, 10 * KiB)), 'disjoint ranges in one file');
  const err = await rejection(copy(s.src, s.src, { srcOffset: 0, dstOffset: 5 * KiB, length: 10 * KiB }));
  t.match(err, { kind: 'usage', code: 'EINVAL' });
  t.match(err?.message, /overlap/);
  t.ok(fs.readFileSync(s.src).equals(now), 'nothing written');
});

t.test('a range into a new DEST: removed if it got nothing, kept with its bytes otherwise', async (t) => {
  const s = setup(t);
  const none = path.join(s.dir, 'none');
  const err = await rejection(copy(s.src, none, { srcOffset: 0, sys: failingCopyFileRange('EIO', 1).sys }));
  t.match(err, { kind: 'system', code: 'EIO', bytesCopied: 0 });
  t.notOk(fs.existsSync(none), 'DEST made for nothing is removed');

  const some = path.join(s.dir, 'some');
  const err2 = await rejection(copy(s.src, some, { srcOffset: 0, sys: failingCopyFileRange('EIO', 3).sys }));
  t.match(err2, { kind: 'system', code: 'EIO', bytesCopied: 2 * CHUNK });
  t.ok(fs.readFileSync(some).subarray(0, 2 * CHUNK).equals(s.data.subarray(0, 2 * CHUNK)), 'the bytes copied are there');
});

t.test("range in mode 'always'", async (t) => {
  const s = setup(t);
  const fresh = path.join(s.dir, 'fresh');
  const err = await rejection(copy(s.src, fresh, { mode: 'always', srcOffset: 100, length: 8192 }));
  t.match(err, { kind: 'usage', code: 'EINVAL' });
  t.match(err?.message, /^cannot reflink .*block size \(\d+ bytes\)/);
  t.notOk(fs.existsSync(fresh), 'a DEST created for the attempt is removed');

  const err2 = await rejection(copy(s.src, fresh, { mode: 'always', srcOffset: 0, length: 8192 }));
  t.match(err2, { kind: 'system', code: 'EOPNOTSUPP' }, 'the real FICLONERANGE on this filesystem');
  t.notOk(fs.existsSync(fresh));
});

t.test('dedupe', async (t) => {
  const s = setup(t, randomBytes(SIZE));
  fs.writeFileSync(s.dst, s.data);
  const real = await rejection(copy(s.src, s.dst, { mode: 'dedupe' }));
  t.match(real, { kind: 'system', code: 'EOPNOTSUPP' }, 'no dedupe on this filesystem');
  t.match(real?.message, /^cannot dedupe /);

  const differs: Sys = {
    ...linuxSys,
    dedupeRange: () => ({ status: FILE_DEDUPE_RANGE_DIFFERS, bytesDeduped: 0 }),
  };
  // A kernel that answers DIFFERS for bytes tscp read as equal: a writer changed a file in
  // between (no filesystem does it on demand). Compared once more, then reported as differing.
  const changed = await rejection(copy(s.src, s.dst, { mode: 'dedupe', sys: differs }));
  t.match(changed, { kind: 'differs', code: 'EILSEQ' });
  t.match(changed?.result, { bytes: { deduplicated: 0 }, differingRanges: [{ offset: 0, length: SIZE }], differingRangeCount: 1, differingBytes: SIZE });

  const same: Sys = { ...linuxSys, dedupeRange: (_s, _o, len) => ({ status: 0, bytesDeduped: len }) };
  const r: CopyResult = await copy(s.src, s.dst, { mode: 'dedupe', sys: same });
  t.equal(r.bytes.deduplicated, SIZE);
  t.ok(fs.readFileSync(s.dst).equals(s.data), 'nothing written');

  fs.writeFileSync(s.dst, s.data.subarray(0, 1000));
  // Sizes differ: the 1000 common bytes (less than a block: compared, not offered) are
  // equal; the rest of SOURCE differs.
  const sizes = await rejection(copy(s.src, s.dst, { mode: 'dedupe' }));
  t.match(sizes, { kind: 'differs' }, 'sizes differ');
  t.match(sizes?.result, { totalBytes: SIZE, differingRanges: [{ offset: 1000, length: SIZE - 1000 }], differingBytes: SIZE - 1000 });
  t.match(sizes?.message, /contents differ in 1 range \(\d+ bytes, the first at byte 1000; sizes \d+ and 1000 bytes\)/);
  t.match(await rejection(copy(s.src, path.join(s.dir, 'absent'), { mode: 'dedupe' })), { kind: 'system', code: 'ENOENT' });
  t.notOk(fs.existsSync(path.join(s.dir, 'absent')));
});

t.test('inplace: DEST itself is written, keeping its inode', async (t) => {
  const s = setup(t, randomBytes(SIZE), Buffer.alloc(2 * SIZE, 1));
  const before = fs.statSync(s.dst);
  const r = await copy(s.src, s.dst, { inplace: true });
  t.equal(fs.statSync(s.dst).ino, before.ino, 'same inode');
  t.ok(fs.readFileSync(s.dst).equals(s.data), 'exactly SOURCE (truncated from the longer old DEST)');
  t.equal(r.totalBytes, SIZE);
  t.same(temps(s.dir), [], 'no temporary file');
});

t.test("inplace with mode 'always' refused: an existing DEST is untouched", async (t) => {
  // README: "always: share extents or fail ... an existing DEST is untouched". The refusal
  // comes before any byte is written, so --inplace has nothing to leave "partly written".
  const old = Buffer.from('keep me');
  const s = setup(t, randomBytes(SIZE), old);
  const sys: Sys = {
    ...linuxSys,
    ficlone() {
      throw sysError('EOPNOTSUPP', 'ioctl(FICLONE)');
    },
  };
  const err = await rejection(copy(s.src, s.dst, { mode: 'always', inplace: true, sys }));
  t.match(err, { kind: 'system', code: 'EOPNOTSUPP', bytesCopied: 0 });
  t.equal(fs.readFileSync(s.dst, 'utf8'), old.toString(), 'DEST content unchanged');
});
