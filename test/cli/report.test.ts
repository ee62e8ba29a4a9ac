import t from 'tap';
import { describeResult } from '../../src/cli/report.js';
import { formatBytes } from '../../src/cli/size.js';
import type { BytesByMethod, CopyResult } from '../../src/copy/index.js';

const MiB = 1024 * 1024;

function result(over: Partial<Omit<CopyResult, 'bytes'>> & { bytes?: Partial<BytesByMethod> } = {}): CopyResult {
  const { bytes, ...rest } = over;
  return {
    source: 'a.img',
    dest: 'b.img',
    mode: 'auto',
    range: null,
    totalBytes: MiB,
    fallbacks: [],
    durationMs: 3,
    ...rest,
    sharedBytes: rest.sharedBytes === undefined ? 0 : rest.sharedBytes,
    bytes: { reflinked: 0, copyFileRange: 0, sendfile: 0, readWrite: 0, deduplicated: 0, holes: 0, ...bytes },
  };
}

t.test('reflinked', async (t) => {
  t.equal(
    describeResult(result({ bytes: { reflinked: MiB }, sharedBytes: MiB })),
    "'a.img' -> 'b.img': 1.0 MiB, reflinked, 1.0 MiB shared with SOURCE, 3 ms",
  );
});

t.test('measured sharing', async (t) => {
  t.match(describeResult(result({ bytes: { copyFileRange: MiB }, sharedBytes: 0 })), ', no extents shared, ');
  t.match(describeResult(result({ bytes: { copyFileRange: MiB }, sharedBytes: MiB / 2 })), ', 512 KiB shared with SOURCE (copy_file_range cloned the extents), ');
  // After a refused reflink, sharing by copy_file_range says who shared: no contradiction.
  const afterRefusal = describeResult(
    result({ bytes: { copyFileRange: MiB }, sharedBytes: MiB, fallbacks: [{ from: 'reflink', to: 'copy_file_range', errno: 'EINVAL' }] }),
  );
  t.match(afterRefusal, 'copied in-kernel (copy_file_range) after reflink was refused (EINVAL), 1.0 MiB shared with SOURCE (copy_file_range cloned the extents)');
  t.match(describeResult(result({ bytes: { reflinked: MiB / 2, copyFileRange: MiB / 2 }, sharedBytes: MiB })), ', 1.0 MiB shared with SOURCE, ', 'a reflink shared: no note');
  t.match(describeResult(result({ bytes: { copyFileRange: MiB }, sharedBytes: null })), ', sharing unknown (no FIEMAP), ');
  t.notMatch(describeResult(result({ bytes: { sendfile: MiB }, sharedBytes: 0 })), 'shared', 'sendfile never shares: not mentioned');
  t.notMatch(describeResult(result({ bytes: { readWrite: MiB }, sharedBytes: null })), 'sharing', 'nor read/write');
});

t.test('in-kernel after a refusal names the errno', async (t) => {
  const s = describeResult(
    result({ bytes: { copyFileRange: MiB }, fallbacks: [{ from: 'reflink', to: 'copy_file_range', errno: 'EOPNOTSUPP' }] }),
  );
  t.match(s, 'copied in-kernel (copy_file_range)');
  t.match(s, '(EOPNOTSUPP)');
  t.equal(s, "'a.img' -> 'b.img': 1.0 MiB, copied in-kernel (copy_file_range) after reflink was refused (EOPNOTSUPP), no extents shared, 3 ms, 333 MiB/s");

  const two = describeResult(
    result({
      bytes: { sendfile: MiB },
      fallbacks: [
        { from: 'reflink', to: 'copy_file_range', errno: 'EXDEV' },
        { from: 'copy_file_range', to: 'sendfile', errno: 'EXDEV' },
      ],
    }),
  );
  t.match(two, 'copied in-kernel (sendfile) after reflink was refused (EXDEV) and copy_file_range was refused (EXDEV)');
});

t.test('a 0-byte return is worded as stopping short', async (t) => {
  const s = describeResult(
    result({
      bytes: { copyFileRange: MiB / 2, readWrite: MiB / 2 },
      fallbacks: [{ from: 'copy_file_range', to: 'read_write', errno: 'EOF' }],
    }),
  );
  t.match(s, 'copy_file_range stopped short (0 bytes before the end)');
  t.notMatch(s, '(EOF)');
});

t.test('mixed methods list each with its bytes', async (t) => {
  const s = describeResult(result({ totalBytes: MiB + 8192, bytes: { reflinked: MiB, readWrite: 8192 }, sharedBytes: MiB }));
  t.equal(s, "'a.img' -> 'b.img': 1.0 MiB, 1.0 MiB reflinked + 8.0 KiB copied by read/write, 1.0 MiB shared with SOURCE, 3 ms, 2.6 MiB/s");
  const three = describeResult(result({ totalBytes: 3 * MiB, bytes: { reflinked: MiB, copyFileRange: MiB, sendfile: MiB } }));
  t.match(three, '1.0 MiB reflinked + 1.0 MiB copied in-kernel (copy_file_range) + 1.0 MiB copied in-kernel (sendfile)');
});

t.test('holes', async (t) => {
  const s = describeResult(result({ totalBytes: 4 * MiB, bytes: { copyFileRange: MiB, holes: 3 * MiB } }));
  t.equal(s, "'a.img' -> 'b.img': 4.0 MiB, copied in-kernel (copy_file_range), 3.0 MiB of holes kept, no extents shared, 3 ms, 333 MiB/s");
  t.equal(describeResult(result({ totalBytes: MiB, bytes: { holes: MiB } })), "'a.img' -> 'b.img': 1.0 MiB, all holes, 1.0 MiB of holes kept, 3 ms");
  t.equal(describeResult(result({ totalBytes: 0 })), "'a.img' -> 'b.img': 0 B, empty, 3 ms");
});

t.test('ranges, dedupe and throughput', async (t) => {
  const r = describeResult(
    result({ range: { srcOffset: 4096, dstOffset: 0, length: 100 }, totalBytes: 100, bytes: { readWrite: 100 } }),
  );
  t.equal(r, "'a.img' -> 'b.img': 100 B [4096+100 -> 0], copied by read/write, 3 ms, 32.6 KiB/s");
  t.match(describeResult(result({ mode: 'dedupe', bytes: { deduplicated: MiB } })), ': 1.0 MiB, deduplicated, ');
  const slow = describeResult(result({ totalBytes: 100 * MiB, bytes: { copyFileRange: 100 * MiB }, durationMs: 2000 }));
  t.equal(slow, "'a.img' -> 'b.img': 100 MiB, copied in-kernel (copy_file_range), no extents shared, 2.0 s, 50.0 MiB/s");
  t.notMatch(describeResult(result({ bytes: { reflinked: MiB }, durationMs: 2000 })), '/s', 'no rate for shared extents');
});

t.test('dedupe that found differences: what was shared, then the differing ranges (the first 100)', async (t) => {
  const few = describeResult(
    result({
      mode: 'dedupe',
      totalBytes: 100 * MiB,
      bytes: { deduplicated: 100 * MiB - 4096 },
      sharedBytes: 100 * MiB - 4096,
      differingRanges: [{ offset: 52428800, length: 1 }],
      differingRangeCount: 1,
      differingBytes: 1,
    }),
  );
  t.equal(few, "'a.img' -> 'b.img': 100 MiB, 100.0 MiB deduplicated, 100.0 MiB shared with SOURCE, 1 byte differs in 1 range: [52428800, +1), 3 ms");
  const ranges = Array.from({ length: 150 }, (_, i) => ({ offset: i * 8192, length: 2 }));
  const many = describeResult(
    result({ mode: 'dedupe', bytes: { deduplicated: MiB / 2 }, sharedBytes: MiB / 2, differingRanges: ranges, differingRangeCount: 250, differingBytes: 500 }),
  );
  t.equal(many.match(/\[\d+, \+2\)/g)?.length, 100, 'the first 100 ranges listed');
  t.match(many, '500 bytes differ in 250 ranges: [0, +2) [8192, +2) ', 'in order');
  t.match(many, '[811008, +2) and 150 more, 3 ms', 'the rest counted, the list capped or not');
  const none = describeResult(
    result({ mode: 'dedupe', sharedBytes: 0, differingRanges: [{ offset: 0, length: MiB }], differingRangeCount: 1, differingBytes: MiB }),
  );
  t.equal(none, "'a.img' -> 'b.img': 1.0 MiB, nothing deduplicated, 1.0 MiB differ in 1 range: [0, +1048576), 3 ms");
  const range = describeResult(
    result({ mode: 'dedupe', range: { srcOffset: 4096, dstOffset: 8192, length: MiB }, bytes: { deduplicated: MiB - 4096 }, differingRanges: [{ offset: 4099, length: 1 }], differingRangeCount: 1, differingBytes: 1 }),
  );
  t.match(range, '1 byte differs in 1 range (SOURCE offsets): [4099, +1)', 'a range says whose offsets');
});

t.test('throughput of a small copy is a readable number', async (t) => {
  // 7 bytes in 60 ms: 116.67 B/s; the rate should print like every other size.
  const s = describeResult(result({ totalBytes: 7, bytes: { readWrite: 7 }, durationMs: 60 }));
  t.match(s, /, \d+(\.\d)? B\/s$/, s);
});

t.test('-v shows the rate every time bytes moved, however short the copy', async (t) => {
  // The rate was once shown only from 50 ms on: "48 ms" for one run, "53 ms, 1.7 GiB/s" for the next.
  for (const durationMs of [0.2, 3, 48, 53, 2000]) {
    const s = describeResult(result({ bytes: { copyFileRange: MiB }, durationMs }));
    const rate = (MiB / durationMs) * 1000;
    t.match(s, new RegExp(`, ${durationMs < 1 ? '0\\.2' : '\\d+(\\.\\d)?'} (ms|s), \\d+(\\.\\d)? (B|KiB|MiB|GiB|TiB)/s$`), `${durationMs} ms: time, then the rate (${s})`);
    t.ok(s.endsWith(`, ${formatBytes(rate)}/s`), `${durationMs} ms: the rate is the moved bytes over the duration (${formatBytes(rate)}/s)`);
  }
  const sendfile = describeResult(result({ bytes: { sendfile: 512 }, durationMs: 1 }));
  t.match(sendfile, /, 1 ms, 500 KiB\/s$/, 'sendfile bytes count as moved');
  t.notMatch(describeResult(result({ bytes: { reflinked: MiB }, durationMs: 3 })), '/s', 'nothing moved (shared extents): no rate');
  t.notMatch(describeResult(result({ bytes: { holes: MiB }, durationMs: 3 })), '/s', 'nothing moved (holes): no rate');
  t.notMatch(describeResult(result({ totalBytes: 0, durationMs: 3 })), '/s', 'nothing moved (empty): no rate');
});
