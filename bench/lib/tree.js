/**
 * Trees for the tree scenarios: a source-checkout-like tree generated deterministically from
 * a seed (the same seed gives the same directories, names, sizes and bytes on every
 * filesystem and every run), a tree of empty files, and the checks of a copied tree.
 *
 * File sizes: ~3% empty; the rest log-uniform in two pieces, most files between 64 B and
 * 64 KiB (median ~2 KiB) and a small share between 64 KiB and 4 MiB. A single log-uniform up
 * to 4 MiB averages ~270 KiB a file (13 GiB for 50,000 files), so the share of the upper
 * piece is what sets the total: it is fitted to the requested total (e.g. 1.3% of the files
 * for 50,000 files / 1 GiB). Within each piece the draws are stratified, so the total lands
 * close to the request even for a few hundred files.
 *
 * Directories: files / 36 of them, each hung under a random earlier directory whose depth is
 * below 6 (so nesting is at most 6 levels below the root); every file goes to a random
 * directory (36 per directory on average, the root included).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KiB, MiB } from './util.js';

/** mulberry32: a small, fast seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DIR_WORDS = ['src', 'lib', 'test', 'include', 'docs', 'tools', 'core', 'util', 'net', 'fs', 'drivers', 'api', 'internal', 'cmd', 'pkg', 'assets', 'fixtures', 'scripts'];
const FILE_STEMS = ['main', 'index', 'util', 'types', 'config', 'parser', 'buffer', 'stream', 'handler', 'client', 'server', 'test', 'README', 'mod', 'helpers', 'data'];
const EXTS = ['c', 'h', 'ts', 'js', 'json', 'md', 'py', 'go', 'rs', 'txt', 'yml', 'cc', 'sh', 'png'];

/** Mean of a log-uniform distribution on [a, b]. */
const logUniformMean = (a, b) => (b - a) / Math.log(b / a);

/**
 * The plan of a tree: { dirs: [relative paths, '' first], files: [{ rel, size, offset }],
 * totalBytes, maxDepth, ... }. Nothing is written.
 */
export function planTree({ files, totalBytes, seed, perDir = 36, maxDepth = 6, maxFileBytes = 4 * MiB, emptyFraction = 0.03, smallMin = 64, smallMax = 64 * KiB }) {
  const rand = seededRandom(seed);
  const pick = (list) => list[Math.floor(rand() * list.length)];

  const nDirs = Math.max(1, Math.round(files / perDir));
  const dirs = [{ rel: '', depth: 0, children: 0, files: 0 }];
  for (let i = 1; i < nDirs; i++) {
    let parent;
    do parent = dirs[Math.floor(rand() * dirs.length)];
    while (parent.depth >= maxDepth);
    const rel = path.join(parent.rel, `${pick(DIR_WORDS)}${parent.children++}`);
    dirs.push({ rel, depth: parent.depth + 1, children: 0, files: 0 });
  }

  // Sizes: exact counts per piece, stratified draws within each, then shuffled.
  const nEmpty = Math.round(files * emptyFraction);
  const nonEmpty = files - nEmpty;
  const m1 = logUniformMean(smallMin, smallMax);
  const m2 = logUniformMean(smallMax, maxFileBytes);
  const wanted = nonEmpty > 0 ? totalBytes / nonEmpty : 0;
  const tailShare = Math.min(1, Math.max(0, (wanted - m1) / (m2 - m1)));
  const nLarge = Math.round(nonEmpty * tailShare);
  const nSmall = nonEmpty - nLarge;
  const logUniform = (a, b, u) => Math.round(Math.exp(Math.log(a) + u * Math.log(b / a)));
  const sizes = [];
  for (let i = 0; i < nEmpty; i++) sizes.push(0);
  for (let i = 0; i < nSmall; i++) sizes.push(logUniform(smallMin, smallMax, (i + rand()) / nSmall));
  for (let i = 0; i < nLarge; i++) sizes.push(logUniform(smallMax, maxFileBytes, (i + rand()) / nLarge));
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [sizes[i], sizes[j]] = [sizes[j], sizes[i]];
  }

  const poolBytes = maxFileBytes + 4 * MiB;
  const list = sizes.map((size) => {
    const d = pick(dirs);
    const rel = path.join(d.rel, `${pick(FILE_STEMS)}${d.files++}.${pick(EXTS)}`);
    return { rel, size, offset: Math.floor(rand() * (poolBytes - size)) };
  });
  return {
    seed,
    dirs: dirs.map((d) => d.rel),
    files: list,
    totalBytes: sizes.reduce((a, b) => a + b, 0),
    maxDepth: Math.max(...dirs.map((d) => d.depth)),
    largestBytes: Math.max(0, ...sizes),
    emptyFiles: nEmpty,
    tailShare,
    poolBytes,
  };
}

/** A plan of `dirs` directories holding `perDir` empty files each (none in the root). */
export function planEmptyTree({ dirs, perDir }) {
  const dirList = [''];
  const list = [];
  for (let d = 0; d < dirs; d++) {
    const dir = `d${String(d).padStart(3, '0')}`;
    dirList.push(dir);
    for (let f = 0; f < perDir; f++) list.push({ rel: `${dir}/f${String(f).padStart(4, '0')}`, size: 0, offset: 0 });
  }
  return { seed: null, dirs: dirList, files: list, totalBytes: 0, maxDepth: 1, largestBytes: 0, emptyFiles: list.length, poolBytes: 0 };
}

/**
 * Write the tree of `plan` under `root` (which must not exist). File bytes come from a
 * seeded pseudo-random pool, a slice per file at its planned offset, each 4 KiB block of it
 * salted with the file's index, so files differ from one another and the same plan always
 * gives the same bytes.
 */
export function writeTree(root, plan) {
  fs.mkdirSync(root);
  for (const d of plan.dirs) if (d !== '') fs.mkdirSync(path.join(root, d));
  let pool = null;
  if (plan.poolBytes > 0) {
    const rand = seededRandom(plan.seed ^ 0x5eed);
    const words = new Uint32Array(plan.poolBytes / 4);
    for (let i = 0; i < words.length; i++) words[i] = (rand() * 4294967296) >>> 0;
    pool = Buffer.from(words.buffer);
  }
  plan.files.forEach((f, index) => {
    const fd = fs.openSync(path.join(root, f.rel), 'wx');
    try {
      if (f.size > 0) {
        const buf = pool.subarray(f.offset, f.offset + f.size);
        for (let b = 0; b + 4 <= f.size; b += 4096) buf.writeUInt32LE(index, b);
        let written = 0;
        while (written < f.size) written += fs.writeSync(fd, buf, written, f.size - written);
      }
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** Count what a tree holds: { files, dirs, others, bytes } (lstat, symlinks not followed). */
export function treeSummary(root) {
  const s = { files: 0, dirs: 0, others: 0, bytes: 0 };
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop();
    s.dirs++;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        s.files++;
        s.bytes += fs.lstatSync(p).size;
      } else s.others++;
    }
  }
  return s;
}

/** Remove a file or a whole tree (rm -rf for directories: much faster than fs.rmSync). */
export function removePath(p) {
  let st;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!st.isDirectory()) {
    fs.rmSync(p, { force: true });
    return;
  }
  const r = spawnSync('rm', ['-rf', '--one-file-system', '--', p], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rm -rf ${p} failed: ${r.stderr.trim()}`);
}

/** Indices of a deterministic sample of `plan`'s files: spread evenly, plus the largest and an empty one. */
export function sampleIndices(plan, count) {
  const n = plan.files.length;
  const set = new Set();
  for (let i = 0; i < Math.min(count, n); i++) set.add(Math.floor(((i + 0.5) * n) / Math.min(count, n)));
  let largest = 0;
  for (let i = 1; i < n; i++) if (plan.files[i].size > plan.files[largest].size) largest = i;
  if (n) set.add(largest);
  const empty = plan.files.findIndex((f) => f.size === 0);
  if (empty >= 0) set.add(empty);
  return [...set].sort((a, b) => a - b);
}

/**
 * Compare a copied tree with its source: the same number of regular files, directories and
 * bytes (complete), a sample of files byte-identical, and (reported separately) whether the
 * sample kept mode and mtime to the nanosecond, as cp -a does.
 */
export function compareTrees(srcRoot, dstRoot, plan, srcSummary, { sample = 64 } = {}) {
  if (!fs.existsSync(dstRoot)) return { ok: false, complete: false, detail: 'DEST is missing' };
  const dst = treeSummary(dstRoot);
  const complete = dst.files === srcSummary.files && dst.dirs === srcSummary.dirs && dst.bytes === srcSummary.bytes && dst.others === srcSummary.others;
  const indices = sampleIndices(plan, sample);
  let differ = 0;
  let metaDiffer = 0;
  const firstBad = [];
  for (const i of indices) {
    const rel = plan.files[i].rel;
    const a = path.join(srcRoot, rel);
    const b = path.join(dstRoot, rel);
    let same = false;
    let sameMeta = false;
    try {
      same = fs.readFileSync(a).equals(fs.readFileSync(b));
      const sa = fs.statSync(a, { bigint: true });
      const sb = fs.statSync(b, { bigint: true });
      sameMeta = sa.mode === sb.mode && sa.mtimeNs === sb.mtimeNs;
    } catch {
      same = false;
    }
    if (!same) {
      differ++;
      if (firstBad.length < 3) firstBad.push(rel);
    }
    if (!sameMeta) metaDiffer++;
  }
  const counts = `${dst.files}/${srcSummary.files} files, ${dst.dirs}/${srcSummary.dirs} directories, ${dst.bytes}/${srcSummary.bytes} bytes${dst.others || srcSummary.others ? `, ${dst.others}/${srcSummary.others} others` : ''}`;
  const sampleText = differ === 0 ? `${indices.length} sampled files identical` : `${differ} of ${indices.length} sampled files DIFFER (${firstBad.join(', ')})`;
  const metaText = metaDiffer === 0 ? 'mode and mtime kept' : `${metaDiffer} with another mode or mtime (ns)`;
  return {
    ok: complete && differ === 0,
    complete,
    sampled: indices.length,
    sampleDiffer: differ,
    metadataDiffer: metaDiffer,
    dest: dst,
    detail: `${complete ? 'complete' : 'INCOMPLETE'}: ${counts}; ${sampleText}; ${metaText}`,
  };
}
