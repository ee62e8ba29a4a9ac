/**
 * Tuning sweeps over the library (dist/index.js) in fresh processes (bench/sweep-child.js):
 *
 * - copy_file_range request size (kernelChunkBytes), same ext4 filesystem, mode auto;
 * - sendfile request size (kernelChunkBytes), ext4 -> XFS, mode never (sendfile directly);
 * - read/write buffer size (readWriteBufferBytes), ext4 -> XFS, with copy_file_range and
 *   sendfile refused by a wrapped system-call layer, so the engine falls back to read/write;
 * - and from the last two: sendfile vs read/write for the cross-filesystem path;
 * - copy_file_range request size within a mergerfs (FUSE) mount over XFS, where each call
 *   goes to the mergerfs daemon and on to XFS, which shares the extents (mode auto).
 *
 * Rounds go through every point of a series in turn (1, 4, ... 128 MiB, 1, 4, ...), the
 * first round is a warm-up, and each point's time is the copy() call measured inside the
 * child (start-up excluded: it is the same for every point).
 */
import fs from 'node:fs';
import path from 'node:path';
import { runTimed } from './measure.js';
import { KiB, MiB, NODE, ROOT, dropCaches, formatBytes, max, median, min, removeFiles, round, sameBytes, syncAll, turn } from './util.js';

const CHILD = path.join(ROOT, 'bench', 'sweep-child.js');

export const KERNEL_CHUNKS = [1, 4, 8, 16, 32, 64, 128].map((m) => m * MiB);
/** copy_file_range request sizes on FUSE, where every call is a round trip through the daemon. */
export const FUSE_CHUNKS = [16, 64, 256, 1024].map((m) => m * MiB);
export const RW_BUFFERS = [64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, MiB, 2 * MiB, 4 * MiB, 8 * MiB];

function methodsOf(bytes) {
  const names = { reflinked: 'reflink', copyFileRange: 'copy_file_range', sendfile: 'sendfile', readWrite: 'read/write' };
  return Object.entries(names)
    .filter(([k]) => bytes[k] > 0)
    .map(([, v]) => v)
    .join('+');
}

async function runSeries({ title, param, values, current, spec, src, dst, rounds, warmup, dropCachesEachRun, log }) {
  const samples = new Map(values.map((v) => [v, []]));
  const rss = new Map(values.map((v) => [v, []]));
  const methods = new Map();
  for (let r = 0; r < warmup + rounds; r++) {
    for (const v of values) {
      await turn();
      removeFiles([dst]);
      if (dropCachesEachRun) dropCaches();
      else syncAll();
      const res = runTimed([NODE, CHILD, JSON.stringify({ ...spec, src, dst, [param]: v })], { stdout: 'pipe', cwd: ROOT });
      if (res.status !== 0) throw new Error(`sweep ${title} at ${v}: ${res.stderr.trim().slice(0, 500)}`);
      const out = JSON.parse(res.stdout.trim().split('\n').pop());
      if (r >= warmup) samples.get(v).push(out.ms);
      if (res.rssKiB !== null) rss.get(v).push(res.rssKiB);
      methods.set(v, methodsOf(out.bytes));
      if (r === warmup + rounds - 1 && !sameBytes(src, dst)) throw new Error(`sweep ${title}: DEST differs from SOURCE`);
    }
    log?.(`  ${title}: round ${r + 1}/${warmup + rounds}${r < warmup ? ' (warm-up)' : ''}`);
  }
  removeFiles([dst]);
  const size = fs.statSync(src).size;
  const points = values.map((v) => {
    const ms = median(samples.get(v));
    return {
      value: v,
      medianMs: round(ms, 2),
      minMs: round(min(samples.get(v)), 2),
      maxMs: round(max(samples.get(v)), 2),
      samples: samples.get(v).map((x) => round(x, 2)),
      mibPerS: ms ? round(size / MiB / (ms / 1000), 1) : null,
      peakRssMiB: rss.get(v).length ? round(max(rss.get(v)) / 1024, 1) : null,
      methods: methods.get(v),
    };
  });
  const best = points.reduce((a, b) => (b.medianMs < a.medianMs ? b : a));
  const cur = points.find((p) => p.value === current);
  // Within 3% of the fastest counts as a tie: prefer the smaller size (shorter blocking calls, less memory).
  const ties = points.filter((p) => p.medianMs <= best.medianMs * 1.03).sort((a, b) => a.value - b.value);
  const recommended = ties[0];
  const verdict = cur
    ? `the current ${formatBytes(cur.value)} is ${((cur.medianMs / best.medianMs - 1) * 100).toFixed(1)}% slower than the fastest; the smallest size within 3% of the fastest: ${formatBytes(recommended.value)}`
    : `the smallest size within 3% of the fastest: ${formatBytes(recommended.value)}`;
  return { title, param, spec, src, dst, rounds, warmup, current, fastest: best.value, recommended: recommended.value, verdict, points };
}

/**
 * `dirs`: { ext4, xfs, mergerfs } directories; `src`: a file on ext4, `fuseSrc` one in the
 * mergerfs mount; current defaults from the
 * library. Returns { series, crossFs }.
 */
export async function runSweeps({ dirs, src, fuseSrc, rounds, warmup, dropCachesEachRun, log }) {
  const lib = await import(path.join(ROOT, 'dist', 'index.js'));
  const series = [];
  const common = { src, rounds, warmup, dropCachesEachRun, log };
  series.push(
    await runSeries({
      ...common,
      title: 'copy_file_range request size (same ext4, mode auto)',
      param: 'kernelChunkBytes',
      values: KERNEL_CHUNKS,
      current: lib.KERNEL_CHUNK_BYTES,
      spec: { mode: 'auto' },
      dst: path.join(dirs.ext4, 'sweep.dst'),
    }),
  );
  series.push(
    await runSeries({
      ...common,
      title: 'sendfile request size (ext4 -> XFS, mode never)',
      param: 'kernelChunkBytes',
      values: KERNEL_CHUNKS,
      current: lib.KERNEL_CHUNK_BYTES,
      spec: { mode: 'never' },
      dst: path.join(dirs.xfs, 'sweep.dst'),
    }),
  );
  series.push(
    await runSeries({
      ...common,
      title: 'read/write buffer size (ext4 -> XFS, kernel copies refused)',
      param: 'readWriteBufferBytes',
      values: RW_BUFFERS,
      current: lib.READ_WRITE_BUFFER_BYTES,
      spec: { mode: 'auto', forceReadWrite: true },
      dst: path.join(dirs.xfs, 'sweep.dst'),
    }),
  );
  series.push(
    await runSeries({
      ...common,
      src: fuseSrc,
      title: 'copy_file_range request size (mergerfs over XFS, FUSE, mode auto)',
      param: 'kernelChunkBytes',
      values: FUSE_CHUNKS,
      current: lib.KERNEL_CHUNK_BYTES,
      spec: { mode: 'auto' },
      dst: path.join(dirs.mergerfs, 'sweep.dst'),
    }),
  );
  const [, sf, rw] = series;
  const at = (s, v) => s.points.find((p) => p.value === v);
  const sfBest = at(sf, sf.fastest);
  const rwBest = at(rw, rw.fastest);
  const sfCur = at(sf, sf.current);
  const rwCur = at(rw, rw.current);
  const winner = sfBest.medianMs <= rwBest.medianMs ? 'sendfile' : 'read/write';
  const crossFs = {
    sendfileBestMs: sfBest.medianMs,
    sendfileBestChunk: sf.fastest,
    readWriteBestMs: rwBest.medianMs,
    readWriteBestBuffer: rw.fastest,
    sendfileAtCurrentMs: sfCur?.medianMs ?? null,
    readWriteAtCurrentMs: rwCur?.medianMs ?? null,
    faster: winner,
    verdict: `${winner} is faster: best sendfile ${sfBest.medianMs.toFixed(0)} ms (${formatBytes(sf.fastest)} requests) vs best read/write ${rwBest.medianMs.toFixed(0)} ms (${formatBytes(rw.fastest)} buffer); at the current defaults ${sfCur?.medianMs.toFixed(0)} ms vs ${rwCur?.medianMs.toFixed(0)} ms`,
  };
  return { series, crossFs };
}
