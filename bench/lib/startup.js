/**
 * Where start-up time goes before tscp's first system call: each step as a fresh process
 * (rounds alternate the steps, so drift hits all alike), each step's median minus the floor
 * of an empty ES module, and one in-process timeline of the same steps.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runTimed } from './measure.js';
import { BIN, NODE, ROOT, max, median, min, round, turn } from './util.js';

const PROBE = path.join(ROOT, 'bench', 'startup-probe.js');

/** `tmpDir`: a directory (tmpfs) for the small real copy. */
export async function measureStartup({ rounds, warmup, tmpDir, log }) {
  const small = path.join(tmpDir, 'startup.src');
  const smallDst = path.join(tmpDir, 'startup.dst');
  fs.writeFileSync(small, Buffer.alloc(4096, 7));
  const steps = [
    { id: 'node', label: 'node -e 0 (floor, CommonJS eval)', argv: [NODE, '-e', '0'] },
    { id: 'empty', label: 'node empty.mjs (floor, an ES module file)', argv: [NODE, PROBE, 'empty'] },
    { id: 'commander', label: 'import commander', argv: [NODE, PROBE, 'commander'] },
    { id: 'cli', label: 'import dist/cli/main.js (the CLI module)', argv: [NODE, PROBE, 'cli'] },
    { id: 'koffi', label: 'require koffi (CommonJS, as the bundle loads it)', argv: [NODE, '-e', "require('koffi')"] },
    { id: 'engine', label: 'import dist/index.js (engine, imports koffi)', argv: [NODE, PROBE, 'engine'] },
    { id: 'bind', label: 'engine + koffi.load(libc) + bindings', argv: [NODE, PROBE, 'bind'] },
    { id: 'entry', label: 'require dist/bin/entry.cjs (what bin/tscp.js loads first, CommonJS)', argv: [NODE, '-e', "require('./dist/bin/entry.cjs')"] },
    { id: 'bundle', label: 'require dist/bin/main.js (the bundled CLI, CommonJS: commander is loaded later)', argv: [NODE, '-e', "require('./dist/bin/main.js')"] },
    { id: 'version', label: 'tscp --version (whole)', argv: [NODE, BIN, '--version'] },
    { id: 'copy4k', label: 'tscp SRC DST, 4 KiB on tmpfs (whole; the quick way: Node\'s copyFile)', argv: [NODE, BIN, small, smallDst] },
    { id: 'copy4kEngine', label: 'tscp --copy SRC DST, 4 KiB on tmpfs (whole; the engine, koffi)', argv: [NODE, BIN, '--copy', small, smallDst] },
  ];
  const samples = Object.fromEntries(steps.map((s) => [s.id, []]));
  const rss = Object.fromEntries(steps.map((s) => [s.id, []]));
  for (let r = 0; r < warmup + rounds; r++) {
    for (const s of steps) {
      await turn();
      fs.rmSync(smallDst, { force: true });
      const res = runTimed(s.argv, { cwd: ROOT });
      if (res.status !== 0) throw new Error(`start-up step '${s.label}' failed: ${res.stderr.trim()}`);
      if (r >= warmup) samples[s.id].push(res.ms);
      if (res.rssKiB !== null) rss[s.id].push(res.rssKiB);
    }
    log?.(`  start-up round ${r + 1}/${warmup + rounds}${r < warmup ? ' (warm-up)' : ''}`);
  }
  fs.rmSync(smallDst, { force: true });
  const floor = median(samples.empty);
  const result = {
    rounds,
    warmup,
    steps: steps.map((s) => ({
      id: s.id,
      label: s.label,
      argv: s.argv,
      medianMs: round(median(samples[s.id]), 2),
      minMs: round(min(samples[s.id]), 2),
      maxMs: round(max(samples[s.id]), 2),
      overFloorMs: s.id === 'node' || s.id === 'empty' ? null : round(median(samples[s.id]) - floor, 2),
      peakRssMiB: rss[s.id].length ? round(max(rss[s.id]) / 1024, 1) : null,
    })),
  };

  // One process, all steps in order: where the time goes, mark by mark.
  const timelines = [];
  for (let i = 0; i < Math.max(1, Math.min(rounds, 7)); i++) {
    const res = runTimed([NODE, PROBE, 'timeline'], { cwd: ROOT, stdout: 'pipe' });
    if (res.status !== 0) throw new Error(`start-up timeline failed: ${res.stderr.trim()}`);
    timelines.push(JSON.parse(res.stdout.trim().split('\n').pop()));
  }
  const labels = timelines[0].map((m) => m.label);
  result.inProcess = {
    samples: timelines.length,
    phases: labels.map((label, i) => ({ label, ms: round(median(timelines.map((t) => t[i].ms)), 2) })),
  };
  return result;
}
