#!/usr/bin/env node
/**
 * Which data method copies fastest from one filesystem to another: sendfile, read/write
 * (1 MiB buffer) or copy_file_range (which the kernel refuses across filesystems of these
 * types with EXDEV, so the chain then goes on), for each pair, with GNU cp alongside.
 *
 *   node bench/crossfs.js [--rounds N] [--size BYTES] [--pairs ext4-xfs,xfs-ext4,...]
 *
 * Each point is a fresh process (bench/sweep-child.js) importing dist/index.js; its time is
 * the copy() call alone (cp's is its whole process). Rounds alternate the methods and the
 * pairs; before every run DEST is removed and `sync` flushes everything. After each run,
 * untimed for the copy, the suite reads Dirty + Writeback from /proc/meminfo, how much of
 * DEST and SOURCE is in the page cache (fincore), and times the `sync` that follows: the
 * writeback a method leaves behind. Results: bench/results/crossfs.json and a table.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Workspace, cannotMountReason } from './lib/env.js';
import { runTimed } from './lib/measure.js';
import { GiB, MiB, NODE, ROOT, median, min, max, round, sameBytes, syncAll, turn, writeRandomFile } from './lib/util.js';

const CHILD = path.join(ROOT, 'bench', 'sweep-child.js');
const log = (s) => process.stderr.write(`${s}\n`);

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : args[i + 1];
};
const rounds = Number(opt('--rounds', 9));
const size = Number(opt('--size', GiB));
const wantedPairs = opt('--pairs', 'ext4-xfs,xfs-ext4,tmpfs-ext4,ext4-btrfs').split(',');

const METHODS = {
  sendfile: { spec: { mode: 'never' } },
  'read/write': { spec: { mode: 'auto', forceReadWrite: true } },
  'chain (copy_file_range first)': { spec: { mode: 'auto' } },
  cp: { cp: true },
};

function meminfoKiB(...keys) {
  const text = fs.readFileSync('/proc/meminfo', 'utf8');
  let sum = 0;
  for (const k of keys) sum += Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return sum;
}

/** Bytes of `file` resident in the page cache (fincore, util-linux). */
function residentBytes(file) {
  const r = spawnSync('fincore', ['-b', '-n', '-o', 'RES', file], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

async function main() {
  const reason = cannotMountReason();
  if (reason) throw new Error(reason);
  const ws = new Workspace();
  try {
    const dirs = {
      ext4: ws.hostDir('ext4'),
      xfs: ws.loopFs('xfs', 3 * GiB),
      btrfs: ws.loopFs('btrfs', 3 * GiB),
      tmpfs: ws.tmpfs(size + 256 * MiB),
    };
    const pairs = wantedPairs.map((p) => {
      const [from, to] = p.split('-');
      if (!dirs[from] || !dirs[to]) throw new Error(`unknown pair ${p}`);
      return { id: p, src: path.join(dirs[from], `crossfs.src`), dst: path.join(dirs[to], `crossfs-${p}.dst`) };
    });
    for (const from of new Set(pairs.map((p) => p.src))) {
      log(`crossfs: writing ${from}`);
      writeRandomFile(from, size);
    }
    syncAll();
    const samples = {};
    for (let r = 0; r <= rounds; r++) {
      for (const pair of pairs) {
        for (const [name, m] of Object.entries(METHODS)) {
          await turn();
          fs.rmSync(pair.dst, { force: true });
          syncAll();
          const dirtyBefore = meminfoKiB('Dirty', 'Writeback');
          let ms;
          let methods = 'cp';
          let res;
          if (m.cp) {
            res = runTimed(['cp', pair.src, pair.dst]);
            if (res.status !== 0) throw new Error(`cp: ${res.stderr}`);
            ms = res.ms;
          } else {
            res = runTimed([NODE, CHILD, JSON.stringify({ ...m.spec, src: pair.src, dst: pair.dst })], { stdout: 'pipe', cwd: ROOT });
            if (res.status !== 0) throw new Error(`${name} ${pair.id}: ${res.stderr.trim().slice(0, 400)}`);
            const out = JSON.parse(res.stdout.trim().split('\n').pop());
            ms = out.ms;
            methods = Object.entries(out.bytes)
              .filter(([k, v]) => v > 0 && k !== 'holes')
              .map(([k]) => k)
              .join('+');
          }
          const dirtyAfter = meminfoKiB('Dirty', 'Writeback');
          const dstCached = residentBytes(pair.dst);
          const srcCached = residentBytes(pair.src);
          const t0 = performance.now();
          syncAll();
          const syncMs = performance.now() - t0;
          if (r === rounds && !sameBytes(pair.src, pair.dst)) throw new Error(`${name} ${pair.id}: DEST differs`);
          if (r === 0) continue; // warm-up
          const key = `${pair.id}|${name}`;
          (samples[key] ??= { pair: pair.id, method: name, methods, ms: [], sysS: [], syncMs: [], dirtyGrowthMiB: [], dstCachedMiB: [], srcCachedMiB: [] });
          const s = samples[key];
          s.ms.push(ms);
          s.sysS.push(res.sysS);
          s.syncMs.push(syncMs);
          s.dirtyGrowthMiB.push((dirtyAfter - dirtyBefore) / 1024);
          s.dstCachedMiB.push(dstCached === null ? null : dstCached / MiB);
          s.srcCachedMiB.push(srcCached === null ? null : srcCached / MiB);
        }
      }
      log(`crossfs: round ${r}/${rounds}${r === 0 ? ' (warm-up)' : ''}, load ${os.loadavg()[0].toFixed(2)}`);
    }
    const rows = Object.values(samples).map((s) => ({
      pair: s.pair,
      method: s.method,
      bytesBy: s.methods,
      medianMs: round(median(s.ms), 1),
      minMs: round(min(s.ms), 1),
      maxMs: round(max(s.ms), 1),
      // System CPU of the whole process (GNU time, 10 ms steps): the copy's kernel work, less
      // disturbed by other load than wall time; Node's start-up adds the same to each method.
      medianSysS: round(median(s.sysS.filter((x) => x !== null)), 2),
      medianSyncMs: round(median(s.syncMs), 1),
      medianCopyPlusSyncMs: round(median(s.ms.map((x, i) => x + s.syncMs[i])), 1),
      medianDirtyGrowthMiB: round(median(s.dirtyGrowthMiB), 0),
      medianDstCachedMiB: round(median(s.dstCachedMiB.filter((x) => x !== null)), 0),
      medianSrcCachedMiB: round(median(s.srcCachedMiB.filter((x) => x !== null)), 0),
      samplesMs: s.ms.map((x) => round(x, 1)),
    }));
    const result = { kernel: os.release(), rounds, size, loadavgEnd: os.loadavg(), rows };
    const out = path.join(ROOT, 'bench', 'results', 'crossfs.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    for (const r of rows) {
      process.stdout.write(
        `${r.pair.padEnd(11)} ${r.method.padEnd(30)} ${String(r.medianMs).padStart(8)} ms (${r.minMs}-${r.maxMs})  sys ${r.medianSysS} s  sync after ${String(r.medianSyncMs).padStart(7)} ms  copy+sync ${String(r.medianCopyPlusSyncMs).padStart(7)} ms  dirty +${r.medianDirtyGrowthMiB} MiB  DEST cached ${r.medianDstCachedMiB} MiB  SRC cached ${r.medianSrcCachedMiB} MiB  [${r.bytesBy}]\n`,
      );
    }
  } finally {
    ws.cleanup();
  }
}

await main();
