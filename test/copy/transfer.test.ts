/**
 * The fallback chain of src/copy/transfer.ts on real files in a scratch directory under
 * /var/tmp. Faults the kernel cannot be made to produce on demand (EIO mid-copy, EINTR,
 * EXDEV between two files of one filesystem, a 0 return mid-file) are injected by a Sys
 * that wraps linuxSys and overrides one or two calls; every other call is the real one.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CopyError } from '../../src/copy/errors.js';
import { CANNOT_USE_METHOD_HERE, KERNEL_CHUNK_BYTES, KERNEL_CHUNK_MAX_BYTES, READ_WRITE_BUFFER_BYTES, Transfer, type TransferContext } from '../../src/copy/transfer.js';
import type { Fallback, Method } from '../../src/copy/types.js';
import { SEEK_DATA, SysError, linuxSys, type Sys } from '../../src/sys/index.js';
import { KiB, MiB, capped, rejection, sysError, type Teardown } from '../helpers/faults.js';

/** Bytes per call when a test caps copy_file_range: several chunks in a small file. */
const CHUNK = 64 * KiB;
const SIZE = 256 * KiB;

interface Files {
  dir: string;
  src: string;
  dst: string;
  srcFd: number;
  dstFd: number;
  data: Buffer;
}

/** SOURCE holding `data`, DEST holding `dstInit` (empty by default), both open. */
function files(t: Teardown, data: Buffer = randomBytes(SIZE), dstInit: Buffer = Buffer.alloc(0)): Files {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'tscp-unit-transfer-'));
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  fs.writeFileSync(src, data);
  fs.writeFileSync(dst, dstInit);
  const srcFd = fs.openSync(src, 'r');
  const dstFd = fs.openSync(dst, 'r+');
  t.teardown(() => {
    for (const fd of [srcFd, dstFd]) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, src, dst, srcFd, dstFd, data };
}

function transfer(f: Files, sys: Sys, extra: Partial<TransferContext> = {}): Transfer {
  return new Transfer({ sys, srcFd: f.srcFd, dstFd: f.dstFd, source: f.src, dest: f.dst, mode: 'auto', total: BigInt(f.data.length), ...extra });
}

/** Copy all of SOURCE to offset 0 of DEST. */
function copyAll(tr: Transfer, f: Files): Promise<void> {
  return tr.copySparse({ srcOffset: 0n, dstOffset: 0n, length: BigInt(f.data.length) }, fs.fstatSync(f.dstFd, { bigint: true }).size);
}

interface Asserts {
  equal(found: unknown, wanted: unknown, message: string): unknown;
  ok(value: unknown, message: string): unknown;
}

function same(t: Asserts, f: Files, what = 'DEST holds the same bytes as SOURCE'): void {
  const out = fs.readFileSync(f.dst);
  t.equal(out.length, f.data.length, 'DEST size');
  t.ok(out.equals(f.data), what);
}

t.test('the real calls: copy_file_range copies everything', async (t) => {
  const f = files(t);
  const tr = transfer(f, linuxSys);
  await copyAll(tr, f);
  same(t, f);
  t.equal(tr.bytes.copyFileRange, SIZE, 'reported as a Number');
  t.equal(tr.exact.copyFileRange, BigInt(SIZE), 'counted as a bigint');
  t.equal(tr.bytesWritten, BigInt(SIZE));
  t.equal(tr.done, BigInt(SIZE));
  t.same(tr.fallbacks, []);
});

t.test('copyDense: one data segment, no SEEK_DATA/SEEK_HOLE walk', async (t) => {
  const f = files(t);
  let seeks = 0;
  const sys: Sys = {
    ...linuxSys,
    lseek(...args) {
      seeks++;
      return linuxSys.lseek(...args);
    },
  };
  const tr = transfer(f, sys);
  await tr.copyDense(BigInt(SIZE));
  same(t, f);
  t.equal(seeks, 0, 'no lseek');
  t.equal(tr.bytes.copyFileRange, SIZE);
  t.equal(tr.done, BigInt(SIZE));
  t.same(tr.fallbacks, []);
});

t.test('short copies (1000 bytes per call) still give identical bytes', async (t) => {
  const f = files(t, randomBytes(100 * KiB + 17));
  let calls = 0;
  const cap = capped(1000);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      calls++;
      return cap(...args);
    },
  };
  const tr = transfer(f, sys);
  await copyAll(tr, f);
  same(t, f);
  t.equal(calls, Math.ceil(f.data.length / 1000), 'looped on every short copy');
  t.equal(tr.bytes.copyFileRange, f.data.length);
  t.same(tr.fallbacks, []);
});

t.test('EIO from copy_file_range after the first chunk is an error carrying the bytes moved', async (t) => {
  const f = files(t);
  let calls = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      if (++calls === 2) throw sysError('EIO', 'copy_file_range');
      return cap(...args);
    },
  };
  const tr = transfer(f, sys);
  const err = await rejection(copyAll(tr, f));
  t.type(err, CopyError);
  t.match(err, { kind: 'system', code: 'EIO' });
  t.equal(err?.bytesCopied, CHUNK, 'bytesCopied equals what was moved');
  t.match(err?.message, /cannot copy '.*src' to '.*dst': Input\/output error \(EIO\)/);
  t.same(err?.fallbacks, [], 'not a fallback');
  t.equal(calls, 2, 'no retry after EIO');
  t.equal(tr.bytesWritten, BigInt(CHUNK));
  t.ok(fs.readFileSync(f.dst).subarray(0, CHUNK).equals(f.data.subarray(0, CHUNK)), 'the first chunk did land');
});

for (const code of ['EXDEV', 'EOPNOTSUPP', 'EINVAL']) {
  t.test(`${code} on the first copy_file_range call falls back to sendfile`, async (t) => {
    const f = files(t);
    let cfr = 0;
    let sendfiles = 0;
    const sys: Sys = {
      ...linuxSys,
      copyFileRange() {
        cfr++;
        throw sysError(code, 'copy_file_range');
      },
      sendfile(...args) {
        sendfiles++;
        return linuxSys.sendfile(...args);
      },
    };
    const tr = transfer(f, sys);
    await copyAll(tr, f);
    same(t, f);
    t.equal(cfr, 1, 'copy_file_range tried once');
    t.ok(sendfiles >= 1);
    t.same(tr.fallbacks, [{ from: 'copy_file_range', to: 'sendfile', errno: code }]);
    t.equal(tr.bytes.sendfile, SIZE);
    t.equal(tr.bytes.copyFileRange, 0);
  });
}

t.test('every errno of CANNOT_USE_METHOD_HERE falls back before any byte moved', async (t) => {
  for (const code of CANNOT_USE_METHOD_HERE) {
    const f = files(t, randomBytes(8 * KiB));
    const sys: Sys = {
      ...linuxSys,
      copyFileRange() {
        throw sysError(code, 'copy_file_range');
      },
    };
    const tr = transfer(f, sys);
    await copyAll(tr, f);
    same(t, f, `${code}: copied by sendfile`);
    t.same(tr.fallbacks, [{ from: 'copy_file_range', to: 'sendfile', errno: code }]);
  }
});

t.test('EXDEV after bytes were copied is an error, not a fallback', async (t) => {
  const f = files(t);
  let calls = 0;
  let sendfiles = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      if (++calls === 3) throw sysError('EXDEV', 'copy_file_range');
      return cap(...args);
    },
    sendfile(...args) {
      sendfiles++;
      return linuxSys.sendfile(...args);
    },
  };
  const tr = transfer(f, sys);
  const err = await rejection(copyAll(tr, f));
  t.type(err, CopyError);
  t.match(err, { kind: 'system', code: 'EXDEV' });
  t.equal(err?.bytesCopied, 2 * CHUNK);
  t.equal(sendfiles, 0, 'sendfile never tried');
  t.same(tr.fallbacks, []);
});

t.test('EINTR from copy_file_range is retried', async (t) => {
  const f = files(t);
  let calls = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      calls++;
      // The first call, and every other one after: before and after bytes were moved.
      if (calls === 1 || calls % 2 === 0) throw sysError('EINTR', 'copy_file_range');
      return cap(...args);
    },
  };
  const tr = transfer(f, sys);
  await copyAll(tr, f);
  same(t, f);
  t.same(tr.fallbacks, [], 'EINTR is not a refusal');
  t.equal(tr.bytes.copyFileRange, SIZE);
  t.ok(calls > SIZE / CHUNK + 1, 'interrupted calls were repeated');
});

t.test('EINTR from pread is retried (read/write after copy_file_range and sendfile refused)', async (t) => {
  const f = files(t);
  let preads = 0;
  let eintrs = 0;
  const sys: Sys = {
    ...linuxSys,
    copyFileRange() {
      throw sysError('EOPNOTSUPP', 'copy_file_range');
    },
    sendfile() {
      throw sysError('EINVAL', 'sendfile');
    },
    pread(fd, buf, len, pos) {
      preads++;
      if (preads % 2 === 1) {
        eintrs++;
        throw sysError('EINTR', 'read');
      }
      return linuxSys.pread(fd, buf, Math.min(len, CHUNK), pos);
    },
  };
  const tr = transfer(f, sys);
  await copyAll(tr, f);
  same(t, f);
  t.same(tr.fallbacks, [
    { from: 'copy_file_range', to: 'sendfile', errno: 'EOPNOTSUPP' },
    { from: 'sendfile', to: 'read_write', errno: 'EINVAL' },
  ]);
  t.equal(tr.bytes.readWrite, SIZE);
  t.equal(eintrs, SIZE / CHUNK, 'every read was interrupted once');
});

t.test('the last method refusing is an error, not a fallback to nothing', async (t) => {
  const f = files(t);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange() {
      throw sysError('EXDEV', 'copy_file_range');
    },
    sendfile() {
      throw sysError('EINVAL', 'sendfile');
    },
    pread() {
      throw sysError('EINVAL', 'read');
    },
  };
  const err = await rejection(copyAll(transfer(f, sys), f));
  t.type(err, CopyError);
  t.match(err, { kind: 'system', code: 'EINVAL', bytesCopied: 0 });
  t.equal(err?.fallbacks.length, 2, 'the two refusals before it are reported');
});

t.test('copy_file_range returning 0 mid-file switches to read/write', async (t) => {
  const f = files(t);
  let calls = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      if (++calls >= 2) return 0;
      return cap(...args);
    },
  };
  const events: string[] = [];
  const tr = transfer(f, sys, { reporter: { method: (m) => events.push(m) } });
  await copyAll(tr, f);
  same(t, f);
  t.equal(calls, 2, 'copy_file_range not asked again after its 0');
  t.same(tr.fallbacks, [{ from: 'copy_file_range', to: 'read_write', errno: 'EOF' }]);
  t.equal(tr.bytes.copyFileRange, CHUNK);
  t.equal(tr.bytes.readWrite, SIZE - CHUNK);
  t.same(events, ['copy_file_range', 'read_write']);
});

t.test('pread returning 0 before the expected end: source-changed, and no spin', async (t) => {
  const f = files(t);
  let cfr = 0;
  let preads = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      if (++cfr >= 2) return 0;
      return cap(...args);
    },
    pread() {
      // A loop that kept asking would be stopped here and fail the assertions below.
      if (++preads > 20) throw new Error('pread called over and over: the copy spins');
      return 0;
    },
  };
  const tr = transfer(f, sys);
  const err = await rejection(copyAll(tr, f));
  t.type(err, CopyError);
  t.match(err, { kind: 'source-changed' });
  t.match(err?.message, /source ended at byte 65536/);
  t.equal(err?.bytesCopied, CHUNK);
  t.equal(preads, 1, 'read/write gave up at the first 0');
  t.same(err?.fallbacks, [{ from: 'copy_file_range', to: 'read_write', errno: 'EOF' }]);
});

t.test('pread returning 0 after some reads: source-changed', async (t) => {
  const f = files(t);
  let preads = 0;
  const sys: Sys = {
    ...linuxSys,
    copyFileRange() {
      return 0;
    },
    pread(fd, buf, len, pos) {
      if (++preads > 20) throw new Error('pread called over and over: the copy spins');
      if (preads >= 3) return 0;
      return linuxSys.pread(fd, buf, Math.min(len, CHUNK), pos);
    },
  };
  const err = await rejection(copyAll(transfer(f, sys), f));
  t.match(err, { kind: 'source-changed', bytesCopied: 2 * CHUNK });
  t.equal(preads, 3);
});

t.test('SOURCE really shrinking mid-copy ends in source-changed', async (t) => {
  const f = files(t);
  let cfr = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      if (++cfr > 20) throw new Error('copy_file_range called over and over: the copy spins');
      const n = cap(...args);
      // Someone truncates SOURCE right after the first chunk; the kernel's own answers follow.
      if (cfr === 1) fs.truncateSync(f.src, CHUNK);
      return n;
    },
  };
  const tr = transfer(f, sys);
  const err = await rejection(copyAll(tr, f));
  t.type(err, CopyError);
  t.match(err, { kind: 'source-changed', bytesCopied: CHUNK });
  t.equal(cfr, 2, 'the kernel answered 0, then read/write confirmed the end');
});

t.test('an AbortSignal already aborted stops before any byte moves', async (t) => {
  const f = files(t);
  let calls = 0;
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      calls++;
      return linuxSys.copyFileRange(...args);
    },
  };
  const controller = new AbortController();
  controller.abort('SIGINT');
  const err = await rejection(copyAll(transfer(f, sys, { signal: controller.signal }), f));
  t.type(err, CopyError);
  t.match(err, { kind: 'interrupted', bytesCopied: 0 });
  t.equal(calls, 0, 'no copy_file_range call');
  t.equal(fs.statSync(f.dst).size, 0, 'DEST untouched');
});

t.test('an AbortSignal aborted after the first chunk stops at the next chunk', async (t) => {
  const f = files(t);
  const controller = new AbortController();
  let calls = 0;
  const cap = capped(CHUNK);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      calls++;
      const n = cap(...args);
      controller.abort('SIGTERM');
      return n;
    },
  };
  const tr = transfer(f, sys, { signal: controller.signal });
  const err = await rejection(copyAll(tr, f));
  t.type(err, CopyError);
  t.match(err, { kind: 'interrupted', bytesCopied: CHUNK });
  t.equal(err?.cause, 'SIGTERM', 'the abort reason is the cause');
  t.equal(calls, 1);
});

t.test('a reporter receives method, fallback and progress events; the last progress is the total', async (t) => {
  const f = files(t);
  const sys: Sys = {
    ...linuxSys,
    copyFileRange() {
      throw sysError('EXDEV', 'copy_file_range');
    },
    sendfile(outFd, inFd, off, len) {
      return linuxSys.sendfile(outFd, inFd, off, Math.min(len, CHUNK));
    },
  };
  const events: [string, ...unknown[]][] = [];
  const tr = transfer(f, sys, {
    reporter: {
      method: (m: Method) => events.push(['method', m]),
      fallback: (fb: Fallback) => events.push(['fallback', fb]),
      progress: (done: number, total: number | null) => events.push(['progress', done, total]),
    },
  });
  await copyAll(tr, f);
  same(t, f);
  t.same(events.slice(0, 3), [
    ['method', 'copy_file_range'],
    ['fallback', { from: 'copy_file_range', to: 'sendfile', errno: 'EXDEV' }],
    ['method', 'sendfile'],
  ]);
  const progress = events.filter((e) => e[0] === 'progress');
  t.equal(progress.length, SIZE / CHUNK, 'one progress event per chunk');
  let last = 0;
  for (const [, done, total] of progress) {
    t.ok((done as number) > last, 'progress grows');
    t.equal(total, SIZE);
    last = done as number;
  }
  t.same(progress[progress.length - 1], ['progress', SIZE, SIZE], 'final progress equals the total');
});

t.test('holes stay holes and count as done', async (t) => {
  const size = 4 * MiB;
  const data = Buffer.alloc(size);
  randomBytes(64 * KiB).copy(data, MiB);
  randomBytes(64 * KiB).copy(data, 3 * MiB);
  const f = files(t, Buffer.alloc(0));
  // Rewrite SOURCE sparsely: only the two data segments are written.
  const w = fs.openSync(f.src, 'w');
  fs.writeSync(w, data, MiB, 64 * KiB, MiB);
  fs.writeSync(w, data, 3 * MiB, 64 * KiB, 3 * MiB);
  fs.ftruncateSync(w, size);
  fs.closeSync(w);
  f.data = data;
  fs.ftruncateSync(f.dstFd, size); // as copy() sizes its temporary file first
  const progress: number[] = [];
  const tr = transfer(f, linuxSys, { reporter: { progress: (d) => progress.push(d) } });
  await tr.copySparse({ srcOffset: 0n, dstOffset: 0n, length: BigInt(size) }, 0n);
  same(t, f);
  t.equal(tr.bytes.holes, size - 128 * KiB);
  t.equal(tr.exact.holes, BigInt(size - 128 * KiB));
  t.equal(tr.bytes.copyFileRange, 128 * KiB);
  t.equal(tr.done, BigInt(size));
  t.equal(progress[progress.length - 1], size);
  t.ok(fs.statSync(f.dst).blocks * 512 < MiB, `DEST allocates ${fs.statSync(f.dst).blocks * 512} bytes, not 4 MiB`);
  t.equal(linuxSys.lseek(f.dstFd, 0, SEEK_DATA), BigInt(MiB), 'DEST starts with a hole');
});

t.test('offsets and counts past 2^53 stay exact (a Sys that answers for a file of 2^53+ bytes)', async (t) => {
  const f = files(t, Buffer.alloc(0));
  const big = 2n ** 53n;
  // SOURCE [0, 2^53+1) is a hole, then 3 bytes of data at 2^53+1, then a hole to 2^53+10.
  const dataStart = big + 1n;
  const dataEnd = big + 4n;
  const end = big + 10n;
  const calls: [bigint, bigint, number][] = [];
  const seen: unknown[] = [];
  const sys: Sys = {
    ...linuxSys,
    lseek(fd, offset, whence) {
      seen.push(offset);
      const off = BigInt(offset);
      if (whence === SEEK_DATA) return off <= dataStart ? dataStart : off < dataEnd ? off : null;
      return off < dataEnd ? dataEnd : off;
    },
    copyFileRange(fdIn, offIn, fdOut, offOut, len) {
      calls.push([BigInt(offIn), BigInt(offOut), len]);
      seen.push(offIn, offOut);
      return Math.min(len, 2);
    },
    punchHole() {
      throw new Error('nothing to punch: DEST holds no data');
    },
  };
  const progress: [number, number | null][] = [];
  const tr = transfer(f, sys, { total: end + 7n, reporter: { progress: (d, total) => progress.push([d, total]) } });
  await tr.copySparse({ srcOffset: 0n, dstOffset: 7n, length: end }, 0n);
  t.ok(seen.every((v) => typeof v === 'bigint'), 'offsets reach Sys as bigints');
  t.strictSame(
    calls,
    [
      [dataStart, dataStart + 7n, 3],
      [dataStart + 2n, dataStart + 9n, 1],
    ],
    'copy_file_range at the exact offsets, shifted exactly by dstOffset',
  );
  t.equal(tr.exact.copyFileRange, 3n);
  t.equal(tr.exact.holes, end - 3n);
  t.equal(tr.done, end, 'done counts every byte, exactly');
  t.equal(tr.bytes.copyFileRange, 3, 'a small count is reported as a Number');
  t.equal(tr.bytes.holes, end - 3n, 'a count past 2^53-1 is reported as a bigint, exactly');
  t.equal(tr.bytesWritten, 3n);
  t.same(progress[progress.length - 1], [Number(end), Number(end + 7n)], 'progress in Numbers');
});

t.test('holes over existing DEST data become zeros (punched, or written where punching is refused)', async (t) => {
  for (const canPunch of [true, false]) {
    const size = MiB;
    const data = Buffer.alloc(size);
    randomBytes(64 * KiB).copy(data, 256 * KiB);
    const f = files(t, Buffer.alloc(0), Buffer.alloc(size, 0xff));
    const w = fs.openSync(f.src, 'w');
    fs.writeSync(w, data, 256 * KiB, 64 * KiB, 256 * KiB);
    fs.ftruncateSync(w, size);
    fs.closeSync(w);
    f.data = data;
    let punches = 0;
    const sys: Sys = {
      ...linuxSys,
      punchHole(...args) {
        punches++;
        if (!canPunch) throw sysError('EOPNOTSUPP', 'fallocate');
        linuxSys.punchHole(...args);
      },
    };
    const tr = transfer(f, sys);
    await tr.copySparse({ srcOffset: 0n, dstOffset: 0n, length: BigInt(size) }, BigInt(size));
    same(t, f, canPunch ? 'holes punched' : 'zeros written');
    t.ok(punches >= 2, 'punching tried for both holes');
    t.equal(tr.bytes.holes, size - 64 * KiB);
  }
});

t.test('a range lands at its DEST offset by every method, other DEST bytes untouched', async (t) => {
  const refuse = (code: string, call: string) => () => {
    throw sysError(code, call);
  };
  const cases: [string, Partial<TransferContext>, Partial<Sys>, keyof Transfer['bytes']][] = [
    ['copy_file_range', {}, {}, 'copyFileRange'],
    ['sendfile', { mode: 'never' }, {}, 'sendfile'],
    ['read_write', {}, { copyFileRange: refuse('EXDEV', 'copy_file_range'), sendfile: refuse('EINVAL', 'sendfile') }, 'readWrite'],
  ];
  for (const [name, ctx, overrides, counter] of cases) {
    const before = Buffer.alloc(200_000, 0xaa);
    const f = files(t, randomBytes(150_000), before);
    const tr = transfer(f, { ...linuxSys, ...overrides }, { ...ctx, total: 100_000n });
    await tr.copySparse({ srcOffset: 1000n, dstOffset: 5000n, length: 100_000n }, BigInt(before.length));
    const out = fs.readFileSync(f.dst);
    t.equal(out.length, before.length, `${name}: DEST size unchanged`);
    t.ok(out.subarray(5000, 105_000).equals(f.data.subarray(1000, 101_000)), `${name}: the range landed`);
    t.ok(out.subarray(0, 5000).equals(before.subarray(0, 5000)), `${name}: bytes before untouched`);
    t.ok(out.subarray(105_000).equals(before.subarray(105_000)), `${name}: bytes after untouched`);
    t.equal(tr.bytes[counter], 100_000, `${name}: counted`);
    t.equal(tr.exact[counter], 100_000n, `${name}: counted exactly`);
  }
});

t.test("mode 'never' never calls copy_file_range (it may share extents)", async (t) => {
  const f = files(t);
  let calls = 0;
  const methods: Method[] = [];
  const sys: Sys = {
    ...linuxSys,
    copyFileRange(...args) {
      calls++;
      return linuxSys.copyFileRange(...args);
    },
  };
  const tr = transfer(f, sys, { mode: 'never', reporter: { method: (m) => methods.push(m) } });
  await copyAll(tr, f);
  same(t, f);
  t.equal(calls, 0);
  t.equal(tr.bytes.sendfile, SIZE);
  t.same(methods, ['sendfile']);
});

t.test('reflinkWhole: a refusal falls back in auto and never, and is the error in always', async (t) => {
  const refusing: Sys = {
    ...linuxSys,
    ficlone() {
      throw sysError('EOPNOTSUPP', 'ioctl(FICLONE)');
    },
  };
  const f = files(t);
  const auto = transfer(f, refusing);
  t.equal(auto.reflinkWhole(BigInt(SIZE)), false);
  t.same(auto.fallbacks, [{ from: 'reflink', to: 'copy_file_range', errno: 'EOPNOTSUPP' }]);
  t.equal(auto.done, 0n);

  const always = transfer(f, refusing, { mode: 'always' });
  let err: unknown;
  try {
    always.reflinkWhole(BigInt(SIZE));
  } catch (e) {
    err = e;
  }
  t.type(err, CopyError);
  t.match(err, { kind: 'system', code: 'EOPNOTSUPP', bytesCopied: 0 });
  t.match((err as Error).message, /^cannot reflink '.*src' to '.*dst': Operation not supported \(EOPNOTSUPP\)$/);

  const eio: Sys = {
    ...linuxSys,
    ficlone() {
      throw sysError('EIO', 'ioctl(FICLONE)');
    },
  };
  t.throws(() => transfer(f, eio).reflinkWhole(BigInt(SIZE)), { kind: 'system', code: 'EIO' }, 'EIO is not a refusal, even in auto');
  t.equal(fs.statSync(f.dst).size, 0, 'DEST untouched');
});

t.test('reflinkRange: the first refusal falls back, or fails in always', async (t) => {
  const f = files(t);
  const refusing: Sys = {
    ...linuxSys,
    ficloneRange() {
      throw sysError('EXDEV', 'ioctl(FICLONERANGE)');
    },
  };
  const r = { srcOffset: 0n, dstOffset: 0n, length: BigInt(SIZE) };
  const auto = transfer(f, refusing);
  t.equal(await auto.reflinkRange(r), false);
  t.same(auto.fallbacks, [{ from: 'reflink', to: 'copy_file_range', errno: 'EXDEV' }]);
  const err = await rejection(transfer(f, refusing, { mode: 'always' }).reflinkRange(r));
  t.match(err, { kind: 'system', code: 'EXDEV' });
  t.match(err?.message, /^cannot reflink /);
});

t.test('stream(): read/write until read() says end of file; EINTR retried', async (t) => {
  const f = files(t, randomBytes(READ_WRITE_BUFFER_BYTES * 2 + 123));
  let preads = 0;
  const sys: Sys = {
    ...linuxSys,
    pread(fd, buf, len, pos) {
      if (++preads === 2) throw sysError('EINTR', 'read');
      return linuxSys.pread(fd, buf, len, pos);
    },
  };
  const progress: [number, number | null][] = [];
  const tr = transfer(f, sys, { total: null, reporter: { progress: (d, total) => progress.push([d, total]) } });
  await tr.stream();
  same(t, f);
  t.equal(tr.bytes.readWrite, f.data.length);
  t.same(progress[progress.length - 1], [f.data.length, null], 'progress of a stream has no total');
});

t.test('copy_file_range asks for more per call while calls return at once (shared extents), not while they copy', async (t) => {
  const f = files(t, Buffer.alloc(0));
  /** The lengths asked of a copy_file_range that moves everything asked, each call spinning `spinMs`. */
  const lengthsAsked = async (length: bigint, spinMs: number, extra: Partial<TransferContext> = {}): Promise<number[]> => {
    const lengths: number[] = [];
    const sys: Sys = {
      ...linuxSys,
      copyFileRange(_fdIn, _offIn, _fdOut, _offOut, len) {
        lengths.push(len);
        // A call that copies bytes takes milliseconds: spin to be one.
        const until = performance.now() + spinMs;
        while (performance.now() < until);
        return len;
      },
    };
    await transfer(f, sys, { total: length, ...extra }).copyDense(length);
    return lengths;
  };
  const fast = await lengthsAsked(4n * 1024n * BigInt(MiB), 0);
  t.equal(fast[0], KERNEL_CHUNK_BYTES, 'the first call asks for KERNEL_CHUNK_BYTES');
  t.equal(Math.max(...fast), KERNEL_CHUNK_MAX_BYTES, 'calls that return at once grow to KERNEL_CHUNK_MAX_BYTES');
  t.ok(fast.length < 16, `${fast.length} calls for 4 GiB instead of 256`);
  t.ok(
    fast.every((len, i) => i === 0 || len <= fast[i - 1]! * 4),
    'each call asks at most 4x the one before',
  );
  const slow = await lengthsAsked(64n * BigInt(MiB), 3);
  t.strictSame(slow, [1, 2, 3, 4].map(() => KERNEL_CHUNK_BYTES), 'calls that take milliseconds stay at KERNEL_CHUNK_BYTES');
  const fixed = await lengthsAsked(64n * BigInt(MiB), 0, { kernelChunkBytes: 8 * MiB });
  t.ok(fixed.length === 8 && fixed.every((len) => len === 8 * MiB), 'a size the caller sets (kernelChunkBytes) stays fixed');
});
