/**
 * The progress line's pieces, without a terminal: fitting a line into a width (the bar goes
 * first, then the figures by importance, a path is shortened before it goes), the ETA's
 * arithmetic with the page cache and --fsync, the write-back tracker, and the line of a
 * running single-file reporter at several widths. test/e2e/progress.test.ts has the same on
 * real terminals.
 */
import t from 'tap';
import { PassThrough } from 'node:stream';
import { ProgressReporter, TreeProgressReporter, WriteBackTracker, estimateEta, fitLine, formatEta, type LineField } from '../../src/cli/progress.js';

const MiB = 1024 * 1024;
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

t.test('fitLine: the bar goes before the figures, then the figures by keep', async (t) => {
  const fields = (): LineField[] => [
    { text: 'in-kernel', keep: 2 },
    { bar: (n) => '█'.repeat(n), keep: 0, min: 8, max: 24 },
    { text: ' 39%', keep: 7 },
    { text: '1.2 GiB/3.0 GiB', keep: 5 },
    { text: '1.3 GiB/s', keep: 3 },
    { text: 'ETA 00:02', keep: 6 },
  ];
  const full = fitLine(fields(), 200);
  t.equal(full, `in-kernel  ${'█'.repeat(24)}   39%  1.2 GiB/3.0 GiB  1.3 GiB/s  ETA 00:02`, 'wide: everything, the bar at its widest');
  for (let width = 12; width <= 120; width++) {
    const line = fitLine(fields(), width);
    t.ok(line.length <= width, `width ${width}: ${line.length} columns (${line})`);
    if (width >= 13) t.match(line, / 39%/, `width ${width}: the percent is kept`);
    if (line.includes('█')) {
      for (const figure of [' 39%', '1.2 GiB/3.0 GiB', '1.3 GiB/s', 'ETA 00:02', 'in-kernel']) t.ok(line.includes(figure), `width ${width}: a bar only with every figure (${figure})`);
    }
  }
  t.equal(fitLine(fields(), 60), 'in-kernel   39%  1.2 GiB/3.0 GiB  1.3 GiB/s  ETA 00:02', '60: no room for a bar of 8: the figures whole');
  t.equal(fitLine(fields(), 49), ' 39%  1.2 GiB/3.0 GiB  1.3 GiB/s  ETA 00:02', '49: then the method goes');
  t.equal(fitLine(fields(), 40), ' 39%  1.2 GiB/3.0 GiB  ETA 00:02', '40: then the rate');
  t.equal(fitLine(fields(), 30), ' 39%  ETA 00:02', '30: then the bytes; the percent and ETA stay');
});

t.test('fitLine: a path is shortened from the left before it is dropped', async (t) => {
  const line = fitLine(
    [
      { text: ' 50%', keep: 9 },
      { text: 'ETA 00:10', keep: 8 },
      { text: 'dir/sub/some-long-file-name.bin', keep: 2, minCut: 12 },
    ],
    40,
  );
  t.ok(line.length <= 40, line);
  t.match(line, /^ 50%  ETA 00:10  ….*file-name\.bin$/, `the end of the path stays: ${line}`);
  const tiny = fitLine([{ text: ' 50%', keep: 9 }, { text: 'dir/sub/some-long-file-name.bin', keep: 2, minCut: 12 }], 14);
  t.equal(tiny, ' 50%', 'too narrow even for 12 characters of it: dropped');
});

t.test('formatEta: a part second left is a second; unknown is --:--', async (t) => {
  t.equal(formatEta(0), '00:00');
  t.equal(formatEta(0.3), '00:01', 'not 00:00 while bytes are left');
  t.equal(formatEta(59.2), '01:00');
  t.equal(formatEta(3601), '1:00:01');
  t.equal(formatEta(null), '--:--');
  t.equal(formatEta(Infinity), '--:--');
});

t.test('estimateEta: the page cache, the dirty limit and --fsync', async (t) => {
  const base = { total: 1000 * MiB, done: 200 * MiB, copyRate: 1000 * MiB, unwritten: 200 * MiB, diskRate: 100 * MiB, headroom: 4000 * MiB, fsync: false, syncing: false };
  t.equal(estimateEta(base), 0.8, 'what fits under the dirty limit goes at the copy rate');
  t.equal(estimateEta({ ...base, headroom: 300 * MiB }), 0.3 + 5, 'past the dirty limit, the disk rate');
  t.equal(estimateEta({ ...base, headroom: 300 * MiB, diskRate: null }), null, 'past the limit with no disk rate seen yet: unknown, not a guess');
  t.equal(estimateEta({ ...base, headroom: null }), 0.8, 'no dirty limit known: the copy rate');
  t.equal(estimateEta({ ...base, fsync: true }), 10, '--fsync: everything not yet on disk, at the disk rate (800 MiB left + 200 unwritten)');
  t.equal(estimateEta({ ...base, fsync: true, diskRate: 5000 * MiB }), 0.8, '--fsync, a disk faster than the copy: the copy rate');
  t.equal(estimateEta({ ...base, fsync: true, diskRate: null }), null, '--fsync, no write-back seen yet: unknown');
  t.equal(estimateEta({ ...base, fsync: true, unwritten: null }), 0.8, '--fsync without /proc: the copy rate');
  t.equal(estimateEta({ ...base, fsync: true, done: base.total, unwritten: 0 }), 0, 'all on disk: done');
  t.equal(estimateEta({ ...base, fsync: true, syncing: true, done: base.total, unwritten: 300 * MiB }), 3, 'syncing: what is left to write, at the disk rate');
  t.equal(estimateEta({ ...base, fsync: true, syncing: true, done: base.total, unwritten: null }), null, 'syncing without /proc: unknown');
  t.equal(estimateEta({ ...base, copyRate: 0 }), null, 'no rate yet: unknown');
});

t.test('WriteBackTracker: the growth of Dirty+Writeback since the start is the unwritten part', async (t) => {
  let pending = 50 * MiB;
  const tracker = new WriteBackTracker(() => ({ pending, limit: 1000 * MiB }));
  pending = 150 * MiB;
  let s = tracker.sample(100 * MiB, 0);
  t.same(s, { unwritten: 100 * MiB, diskRate: null, headroom: 850 * MiB }, 'all of it in the cache; no disk rate yet');
  pending = 200 * MiB; // 300 MiB done, 150 unwritten: 150 on disk
  s = tracker.sample(300 * MiB, 1000);
  t.equal(s.unwritten, 150 * MiB);
  t.equal(s.diskRate, 150 * MiB, '150 MiB reached the disk in the last second');
  pending = 0; // other writers flushed too: never more written than done
  s = tracker.sample(300 * MiB, 2000);
  t.equal(s.unwritten, 0, 'clamped at 0');
  t.same(new WriteBackTracker(() => null).sample(MiB, 0), { unwritten: null, diskRate: null, headroom: null }, 'no /proc: unknown');
});

t.test('ProgressReporter.line: fits every width, bar dropped first; syncing', async (t) => {
  const r = new ProgressReporter({ stream: new PassThrough(), paint: (s) => `\x1b[36m${s}\x1b[39m` });
  r.start({ totalBytes: 3 * 1024 * MiB, mode: 'auto' });
  r.method?.('copy_file_range');
  r.progress(1200 * MiB);
  r.stop();
  for (const width of [20, 30, 40, 49, 50, 60, 79, 80, 120, 159]) {
    const line = strip(r.line(width));
    t.ok(line.length <= width, `${width} columns: ${line.length} (${line})`);
    t.match(line, /\d+%/, `${width}: the percent is there`);
    if (width >= 50) t.match(line, /\d+%  1\.2 GiB\/3\.0 GiB  .*\/s  ETA (\d\d:\d\d|--:--)$/, `${width}: every figure, whole (${line})`);
  }
  t.notMatch(strip(r.line(49)), /[█░]/, '49 columns: the bar is gone');
  t.match(strip(r.line(159)), /^in-kernel  +[█░]{24}  +\d+%/, '159 columns: the bar, full width');

  const s = new ProgressReporter({ stream: new PassThrough(), fsync: true });
  s.start({ totalBytes: 64 * MiB, mode: 'auto' });
  s.progress(64 * MiB);
  s.stage('syncing');
  s.stop();
  const line = s.line(100);
  t.match(line, /^syncing  /, `the syncing stage: ${line}`);
  t.match(line, /ETA (\d\d:\d\d|--:--)$/, 'with an ETA');
});

t.test('TreeProgressReporter.line: fits every width, the path shortened', async (t) => {
  const r = new TreeProgressReporter({ stream: new PassThrough() });
  r.found({ files: 120, bytes: 3 * 1024 * MiB });
  r.fileStarted('photos/2019/summer/a-very-long-file-name-of-a-photo.jpg');
  r.method('copy_file_range');
  r.progress({ files: 40, bytes: 1024 * MiB });
  r.stop();
  for (const width of [30, 40, 50, 60, 80, 120, 159]) {
    const line = r.line(width);
    t.ok(line.length <= width, `${width} columns: ${line.length} (${line})`);
    t.match(line, /\d+%/, `${width}: the percent is there`);
  }
  t.match(r.line(159), /[█░]{20}.*40\/120 files.*photo\.jpg$/, 'wide: the bar, the figures and the path');
});
