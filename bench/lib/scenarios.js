/**
 * The benchmark scenarios: what files each one needs, which tools it runs (tscp first, then
 * its peers), which peer its target is measured against, and how its result is checked.
 *
 * Each run is a whole process. Rounds alternate the tools (tscp, peer, peer..., tscp, peer,
 * peer...), the first `warmup` rounds are not counted, and before every run, untimed, the
 * destination is deleted and `sync` flushes all dirty data (with --drop-caches, the page
 * cache is dropped too), so every run starts from the same state.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runTimed } from './measure.js';
import {
  BIN,
  GiB,
  MiB,
  NODE,
  allocatedBytes,
  dropCaches,
  formatBytes,
  max,
  median,
  min,
  removeFiles,
  round,
  sameBytes,
  sh,
  syncAll,
  turn,
  which,
  writeRandomFile,
  writeSparseFile,
} from './util.js';

/** Sizes of the full suite and of the --quick smoke run. */
export const SIZES = {
  full: {
    big: GiB,
    sparseSize: 8 * GiB,
    sparseData: 64 * MiB,
    sparseSegments: 64,
    rangeLength: 1_000_000_000,
    xfsImage: 4 * GiB,
    btrfsImage: 3 * GiB,
    tmpfs: 2 * GiB,
    label: { big: '1 GiB', sparse: '8 GiB sparse (64 MiB data)', range: '1 GB' },
  },
  quick: {
    big: 8 * MiB,
    sparseSize: 256 * MiB,
    sparseData: MiB,
    sparseSegments: 16,
    rangeLength: 8_000_000,
    xfsImage: 512 * MiB,
    btrfsImage: 256 * MiB,
    tmpfs: 128 * MiB,
    label: { big: '8 MiB', sparse: '256 MiB sparse (1 MiB data)', range: '8 MB' },
  },
};

/** Unaligned (and differently misaligned) offsets for the range scenario. */
const RANGE_SRC_OFFSET = 12_345;
const RANGE_DST_OFFSET = 67_891;

/** The peers on this machine: GNU cp, uutils cp (if installed), xfs_io. */
export function detectTools() {
  const firstLine = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.split('\n')[0].trim() : null;
  };
  const tools = { cp: { argv: ['cp'], version: firstLine('cp', ['--version']) } };
  const uuCandidates = [
    ['/usr/lib/cargo/bin/coreutils/cp'],
    ['uu-cp'],
    ['/usr/bin/coreutils', 'cp'],
    ['coreutils', 'cp'],
  ];
  tools.uutils = null;
  for (const argv of uuCandidates) {
    if (!which(argv[0])) continue;
    const v = firstLine(argv[0], [...argv.slice(1), '--version']);
    if (v && !/GNU/.test(v)) {
      tools.uutils = { argv, version: v };
      break;
    }
  }
  tools.xfsIo = which('xfs_io') ? { argv: ['xfs_io'], version: firstLine('xfs_io', ['-V']) } : null;
  return tools;
}

const tscpArgv = (...args) => [NODE, BIN, ...args];
const tscpTool = (...args) => ({ key: 'tscp', name: 'tscp', argv: tscpArgv(...args), tscp: true });
const nodeFloor = { key: 'node', name: 'node -e 0', argv: [NODE, '-e', '0'] };
const nodeCopyFile = (src, dst) => ({
  key: 'node-copyfile',
  name: 'node fs.copyFileSync',
  argv: [NODE, '-e', 'require("fs").copyFileSync(process.argv[1], process.argv[2])', src, dst],
});

/** Bytes of `file` in extents flagged shared (filefrag -v); null where FIEMAP is missing. */
export function sharedBytes(file) {
  const r = spawnSync('filefrag', ['-v', file], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const bs = Number(/blocks of (\d+) bytes/.exec(r.stdout)?.[1] ?? /blocksize of (\d+)/.exec(r.stdout)?.[1]);
  if (!bs) return null;
  let shared = 0;
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):.*?([a-z_,]*)\s*$/.exec(line);
    if (m && m[2].split(',').includes('shared')) shared += Number(m[1]) * bs;
  }
  return shared;
}

/**
 * Build the scenario list. `ws` is the Workspace (mounts), `size` one of SIZES, `tools`
 * from detectTools(), `opts` the run options ({ runs, warmup, quick }).
 */
export function buildScenarios(ws, size, tools, opts) {
  const ext4 = ws.hostDir('ext4');
  const xfs = ws.loopFs('xfs', size.xfsImage);
  const btrfs = ws.loopFs('btrfs', size.btrfsImage);
  const tmp = ws.tmpfs(size.tmpfs);
  const L = size.label;
  const scenarios = [];
  const cp = (src, dst) => ({ key: 'cp', name: `cp (${tools.cp.version?.replace(/^cp \(GNU coreutils\) /, 'GNU ') ?? 'GNU'})`, argv: [...tools.cp.argv, src, dst] });
  const uu = (src, dst) => (tools.uutils ? [{ key: 'uutils', name: `uutils cp (${tools.uutils.version.replace(/^\S+\s+/, '')})`, argv: [...tools.uutils.argv, src, dst] }] : []);
  const uuNote = tools.uutils ? [] : ['uutils cp skipped: not installed (apt-get install rust-coreutils)'];
  // Many runs where one run is cheap: more samples for a steadier median.
  const many = (factor) => (opts.quick ? opts.runs : Math.max(opts.runs, opts.runs * factor));

  const bigExt4 = path.join(ext4, 'big.src');
  const rangeDst = path.join(ext4, 'range.dst');

  const wholeCheck = (src, dst) => () => {
    const ok = fs.statSync(dst).size === fs.statSync(src).size && sameBytes(src, dst);
    return { ok, detail: ok ? 'DEST equals SOURCE (cmp)' : 'DEST differs from SOURCE' };
  };
  const reflinkCheck = (src, dst) => () => {
    const same = sameBytes(src, dst);
    sh('sync', ['-f', dst]);
    const shared = sharedBytes(dst);
    const ok = same && shared === fs.statSync(src).size;
    return { ok, sharedBytes: shared, detail: `${same ? 'DEST equals SOURCE' : 'DEST DIFFERS'}, ${formatBytes(shared)} shared` };
  };

  // 1. Same ext4: FICLONE refused (EOPNOTSUPP), copy_file_range in the kernel; cp does the same.
  {
    const dst = path.join(ext4, 'big.dst');
    scenarios.push({
      id: 'ext4-same',
      title: `${L.big}, same ext4 filesystem`,
      files: () => writeRandomFile(bigExt4, size.big),
      dests: [dst],
      tools: [tscpTool(bigExt4, dst), cp(bigExt4, dst), ...uu(bigExt4, dst), nodeCopyFile(bigExt4, dst)],
      target: { peer: 'cp', max: 1.1 },
      check: wholeCheck(bigExt4, dst),
      runs: opts.runs,
      notes: [...uuNote],
    });
  }

  // 2. ext4 -> XFS: FICLONE and copy_file_range refused (EXDEV), then sendfile; cp reads and writes.
  {
    const dst = path.join(xfs, 'cross.dst');
    scenarios.push({
      id: 'ext4-to-xfs',
      title: `${L.big}, ext4 -> XFS (cross-filesystem)`,
      dests: [dst],
      tools: [tscpTool(bigExt4, dst), cp(bigExt4, dst), ...uu(bigExt4, dst), nodeCopyFile(bigExt4, dst)],
      target: { peer: 'cp', max: 1.0 },
      check: wholeCheck(bigExt4, dst),
      runs: opts.runs,
      notes: [...uuNote],
    });
  }

  // 3-4. Reflink on XFS and btrfs: the copy is metadata work, start-up dominates.
  for (const [fsName, dir] of [
    ['xfs', xfs],
    ['btrfs', btrfs],
  ]) {
    const src = path.join(dir, 'reflink.src');
    const dst = path.join(dir, 'reflink.dst');
    scenarios.push({
      id: `reflink-${fsName}`,
      title: `${L.big} reflink on ${fsName === 'xfs' ? 'XFS' : 'btrfs'}`,
      files: () => writeRandomFile(src, size.big),
      dests: [dst],
      tools: [
        tscpTool(src, dst),
        nodeFloor,
        cp(src, dst),
        ...uu(src, dst),
        nodeCopyFile(src, dst),
      ],
      target: { peer: 'node', max: 1.35 },
      check: reflinkCheck(src, dst),
      runs: many(3),
      notes: [...uuNote],
    });
  }

  // 5-6. A sparse file on ext4 and tmpfs: SEEK_DATA/SEEK_HOLE walk, holes stay holes.
  for (const [fsName, dir] of [
    ['ext4', ext4],
    ['tmpfs', tmp],
  ]) {
    const src = path.join(dir, 'sparse.src');
    const dst = path.join(dir, 'sparse.dst');
    const allocCheck = () => {
      const a = allocatedBytes(src);
      const b = allocatedBytes(dst);
      return { srcAllocated: a, dstAllocated: b, diff: b - a, ok: Math.abs(b - a) <= MiB };
    };
    scenarios.push({
      id: `sparse-${fsName}`,
      title: `${L.sparse} on ${fsName}`,
      files: () => writeSparseFile(src, size.sparseSize, size.sparseData, size.sparseSegments),
      dests: [dst],
      tools: [tscpTool(src, dst), nodeFloor, cp(src, dst)],
      target: { peer: 'node', max: 3.0 },
      allocationTarget: MiB,
      checkPeers: true,
      check: (tool) => {
        const alloc = allocCheck();
        if (!tool.tscp) return { ...alloc, detail: `DEST allocates ${formatBytes(alloc.dstAllocated)} (SOURCE ${formatBytes(alloc.srcAllocated)})` };
        const same = sameBytes(src, dst);
        return {
          ...alloc,
          ok: alloc.ok && same,
          detail: `${same ? 'DEST equals SOURCE' : 'DEST DIFFERS'}; DEST allocates ${formatBytes(alloc.dstAllocated)}, SOURCE ${formatBytes(alloc.srcAllocated)} (diff ${formatBytes(alloc.diff)}, limit 1 MiB)`,
        };
      },
      runs: many(3),
      notes: [
        'node fs.copyFileSync and uutils cp not run: they fill the holes (an 8 GiB write; the tmpfs would need 8 GiB of RAM)',
      ],
    });
  }

  // 7. A range at unaligned offsets (differently misaligned: no block-aligned middle to reflink).
  {
    const s = RANGE_SRC_OFFSET;
    const d = RANGE_DST_OFFSET;
    const l = size.rangeLength;
    const tools7 = [tscpTool('-s', String(s), '-d', String(d), '-l', String(l), bigExt4, rangeDst)];
    const notes = [];
    if (tools.xfsIo) {
      tools7.push({ key: 'xfs_io', name: 'xfs_io copy_range', argv: [...tools.xfsIo.argv, '-f', '-c', `copy_range -s ${s} -d ${d} -l ${l} ${bigExt4}`, rangeDst] });
    } else notes.push('xfs_io not installed (xfsprogs): no peer');
    scenarios.push({
      id: 'range-unaligned',
      title: `${L.range} range at unaligned offsets (ext4)`,
      dests: [rangeDst],
      tools: tools7,
      target: { peer: 'xfs_io', max: 1.15 },
      check: () => {
        const st = fs.statSync(rangeDst);
        const ok = st.size === d + l && sameBytes(bigExt4, rangeDst, { skipA: s, skipB: d, length: l });
        return { ok, detail: ok ? `DEST[${d}, ${d + l}) equals SOURCE[${s}, ${s + l})` : 'range differs' };
      },
      runs: opts.runs,
      notes: [`-s ${s} -d ${d} -l ${l} (offsets ${s % 4096} and ${d % 4096} bytes past a 4 KiB block)`, ...notes],
    });
  }

  // 8. Start-up: --version loads commander and prints, nothing else.
  scenarios.push({
    id: 'startup-version',
    title: 'tscp --version',
    dests: [],
    tools: [{ key: 'tscp', name: 'tscp --version', argv: tscpArgv('--version'), tscp: true, noCopy: true }, nodeFloor],
    target: { peer: 'node', max: 1.25 },
    runs: many(4),
    notes: [],
  });

  // 9. Progress bar cost on a read/write copy. The CLI copies a regular file in the kernel
  // (copy_file_range or sendfile); a block device SOURCE is streamed with read/write.
  {
    const dst = path.join(tmp, 'progress.dst');
    let dev = null;
    scenarios.push({
      id: 'progress',
      title: `progress bar on vs off, ${L.big} read/write copy`,
      files: () => {
        dev = ws.blockDevice(bigExt4);
      },
      dests: [dst],
      tools: [
        { key: 'tscp', name: 'tscp --progress', argv: () => tscpArgv('--progress', dev, dst), tscp: true, stderr: 'null' },
        { key: 'no-progress', name: 'tscp --no-progress', argv: () => tscpArgv('--no-progress', dev, dst), tscp: true, stderr: 'null' },
      ],
      target: { peer: 'no-progress', max: 1.02 },
      check: () => {
        const ok = fs.statSync(dst).size === size.big && sameBytes(bigExt4, dst);
        return { ok, detail: ok ? 'DEST equals the device' : 'DEST differs from the device' };
      },
      runs: many(3),
      notes: [`SOURCE is a read-only loop block device over the ${L.big} file (tscp streams a device with read/write); DEST on tmpfs; stderr to /dev/null`],
    });
  }
  return scenarios;
}

/** Run one scenario's rounds; fills scenario.result. */
export async function runScenario(sc, opts, log) {
  const rounds = opts.warmup + sc.runs;
  const argvOf = (t) => (typeof t.argv === 'function' ? t.argv() : t.argv);
  const perTool = sc.tools.map((t) => ({ key: t.key, name: t.name, argv: argvOf(t), tscp: Boolean(t.tscp), noCopy: Boolean(t.noCopy), warmup: [], runs: [], check: null }));
  const prepare = () => {
    removeFiles(sc.dests);
    for (const d of new Set(sc.dests.map((f) => path.dirname(f)))) {
      for (const name of fs.readdirSync(d)) if (name.startsWith('.tscp-')) fs.rmSync(path.join(d, name), { force: true });
    }
    if (opts.dropCaches) dropCaches();
    else syncAll();
  };
  let error = null;
  outer: for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < sc.tools.length; i++) {
      const tool = sc.tools[i];
      await turn();
      prepare();
      const r = runTimed(perTool[i].argv, { stderr: tool.stderr ?? 'pipe' });
      if (r.status !== 0) {
        error = `${tool.name} failed (${r.error ?? (r.signal ? `signal ${r.signal}` : `exit ${r.status}`)}): ${r.stderr.trim().slice(0, 500)}`;
        break outer;
      }
      const sample = { ms: round3(r.ms), rssKiB: r.rssKiB, userS: r.userS, sysS: r.sysS };
      (round < opts.warmup ? perTool[i].warmup : perTool[i].runs).push(sample);
      // Check each output right after its last run, before the next run deletes it.
      if (round === rounds - 1 && sc.check && !tool.noCopy && (tool.tscp || (sc.checkPeers && tool.key !== 'node'))) {
        perTool[i].check = sc.check(tool);
      }
    }
    log?.(`  round ${round + 1}/${rounds}${round < opts.warmup ? ' (warm-up)' : ''}`);
  }
  prepare();

  // One more tscp run, untimed by the rounds, with --json: how long the engine itself took
  // (copy() from open to rename) and which methods moved the bytes. The rest of tscp's wall
  // time is process start-up, module loading and exit.
  let engine = null;
  if (error === null && !sc.tools[0].noCopy) {
    const argv = perTool[0].argv;
    const r = runTimed([...argv.slice(0, 2), '--json', ...argv.slice(2)], { stdout: 'pipe' });
    try {
      const report = JSON.parse(r.stdout);
      engine = { wallMs: round3(r.ms), durationMs: report.durationMs, bytes: report.bytes, fallbacks: report.fallbacks, sharedBytes: report.sharedBytes };
    } catch {
      engine = { error: `tscp --json: exit ${r.status}: ${r.stderr.trim().slice(0, 300)}` };
    }
    prepare();
  }

  for (const t of perTool) {
    const ms = t.runs.map((s) => s.ms);
    const rss = [...t.warmup, ...t.runs].map((s) => s.rssKiB).filter((x) => x !== null);
    t.medianMs = round3(median(ms));
    t.minMs = round3(min(ms));
    t.maxMs = round3(max(ms));
    t.peakRssMiB = rss.length ? round(max(rss) / 1024, 1) : null;
    t.medianCpuS = t.runs.length && t.runs[0].userS !== null ? round(median(t.runs.map((s) => s.userS + s.sysS)), 3) : null;
  }
  const main = perTool[0];
  const ratios = {};
  for (const peer of perTool.slice(1)) {
    const n = Math.min(main.runs.length, peer.runs.length);
    const pairs = [];
    for (let i = 0; i < n; i++) pairs.push(main.runs[i].ms / peer.runs[i].ms);
    // CPU time (user+sys, 10 ms resolution) is less disturbed by other load than wall time.
    const cpuRatio = main.medianCpuS && peer.medianCpuS ? round(main.medianCpuS / peer.medianCpuS, 3) : null;
    ratios[peer.name] = { pairwise: pairs.map((x) => round(x, 4)), median: round(median(pairs), 4), cpuRatio };
  }
  const targetPeer = perTool.find((t) => t.key === sc.target.peer);
  const ratio = targetPeer ? ratios[targetPeer.name]?.median ?? null : null;
  // Every tscp output that was checked must be right (bytes, sharing, allocation).
  const checkOk = perTool.every((t) => !t.tscp || t.noCopy || (t.check !== null && t.check.ok !== false));
  const met = error === null && ratio !== null && ratio <= sc.target.max && checkOk;
  sc.result = {
    id: sc.id,
    title: sc.title,
    target: { peer: targetPeer?.name ?? sc.target.peer, maxRatio: sc.target.max, ...(sc.allocationTarget ? { allocationWithinBytes: sc.allocationTarget } : {}) },
    runs: sc.runs,
    warmup: opts.warmup,
    tools: perTool.map(({ argv, ...rest }) => ({ ...rest, argv: argv.map(String) })),
    ratios,
    ratio,
    engine,
    met: Boolean(met),
    error,
    notes: sc.notes,
  };
  return sc.result;
}

function round3(x) {
  return round(x, 3);
}
