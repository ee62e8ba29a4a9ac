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
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runTimed } from './measure.js';
import { compareTrees, planEmptyTree, planTree, removePath, sampleIndices, seededRandom, treeSummary, writeTree } from './tree.js';
import {
  BIN,
  GiB,
  KiB,
  MiB,
  NODE,
  allocatedBytes,
  dropCaches,
  formatBytes,
  max,
  median,
  min,
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
    // reflink.src, the 1 GiB tree (~1.1 GiB allocated), rsync's full copy of it, the empty trees.
    // and the mergerfs scenario's SOURCE (its copies are reflinks).
    xfsImage: 7 * GiB,
    btrfsImage: 3 * GiB,
    tmpfs: 2 * GiB,
    // The tree and one copy of it; 4 KiB blocks, so ~1.1 GiB allocated each.
    ext4Image: 4 * GiB,
    ext4Inodes: 600_000,
    tree: { files: 50_000, bytes: GiB },
    emptyTree: { dirs: 100, perDir: 1000 },
    // Two images and nothing else on their own XFS.
    dedupeImage: 3 * GiB,
    small: 4 * KiB,
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
    ext4Image: 256 * MiB,
    ext4Inodes: 16_384,
    tree: { files: 300, bytes: 8 * MiB },
    emptyTree: { dirs: 10, perDir: 300 },
    dedupeImage: 512 * MiB,
    small: 4 * KiB,
    label: { big: '8 MiB', sparse: '256 MiB sparse (1 MiB data)', range: '8 MB' },
  },
};

/** The seed of the generated tree: the same tree on every filesystem, in every run. */
const TREE_SEED = 0x75c9;
/** Peak RSS target of `tscp -a` on the tree-ext4 tree (worker threads each have a V8 heap). */
export const TREE_RSS_TARGET_MIB = 120;

/** The dedupe scenario: 4 KiB blocks, 1% of them differing, placed by this seed; 98.9% must end up shared. */
const DEDUPE_BLOCK = 4096;
const DEDUPE_DIFFERING_FRACTION = 0.01;
const DEDUPE_SEED = 0xd3d0;
const DEDUPE_SHARED_TARGET = 0.989;

function sha256File(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(8 * MiB);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

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
  tools.rsync = which('rsync') ? { argv: ['rsync'], version: firstLine('rsync', ['--version']) } : null;
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
const nodeCpSync = (src, dst) => ({
  key: 'node-cpsync',
  name: 'node fs.cpSync',
  argv: [NODE, '-e', 'require("fs").cpSync(process.argv[1], process.argv[2], { recursive: true, preserveTimestamps: true })', src, dst],
});

/** Bytes of `file` in extents flagged shared (filefrag -v); null where FIEMAP is missing. */
export function sharedBytes(file) {
  const r = spawnSync('filefrag', ['-v', file], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const bs = Number(/blocks? of (\d+) bytes/.exec(r.stdout)?.[1] ?? /blocksize of (\d+)/.exec(r.stdout)?.[1]);
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
  const ext4Loop = ws.loopFs('ext4', size.ext4Image, { name: 'ext4-loop', mkfsArgs: ['-N', String(size.ext4Inodes)] });
  const L = size.label;
  const scenarios = [];
  const cpVersion = tools.cp.version?.replace(/^cp \(GNU coreutils\) /, 'GNU ') ?? 'GNU';
  const uuVersion = tools.uutils?.version.replace(/^\S+\s+/, '');
  // cp(SRC, DST) or cp('-a', SRC, DST); the same for uu().
  const cp = (...args) => ({ key: 'cp', name: `cp${args.length > 2 ? ` ${args.slice(0, -2).join(' ')}` : ''} (${cpVersion})`, argv: [...tools.cp.argv, ...args] });
  const uu = (...args) => (tools.uutils ? [{ key: 'uutils', name: `uutils cp${args.length > 2 ? ` ${args.slice(0, -2).join(' ')}` : ''} (${uuVersion})`, argv: [...tools.uutils.argv, ...args] }] : []);
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
      bigFileCopy: true,
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
      bigFileCopy: true,
      title: `${L.big}, ext4 -> XFS (cross-filesystem)`,
      dests: [dst],
      tools: [tscpTool(bigExt4, dst), cp(bigExt4, dst), ...uu(bigExt4, dst), nodeCopyFile(bigExt4, dst)],
      target: { peer: 'cp', max: 1.0 },
      check: wholeCheck(bigExt4, dst),
      runs: opts.runs,
      notes: [...uuNote],
    });
  }

  // 2b-2c. 1 GiB onto an existing DEST of the same size on the same ext4. tscp writes a
  // temporary file and exchanges it with DEST, then unlinks the old file (a failed copy
  // leaves DEST as it was; ext4 writes data out before a rename over a file returns, not
  // before an exchange);
  // --inplace writes into DEST itself, as cp does. DEST is made anew before every run,
  // untimed (a copy of other bytes, then the sync every run starts from), so every run
  // replaces a DEST that is on disk and clean.
  {
    const old = path.join(ext4, 'existing.old');
    const dst = path.join(ext4, 'existing.dst');
    const makeDest = () => sh('cp', ['--reflink=never', old, dst]);
    for (const inplace of [false, true]) {
      scenarios.push({
        id: inplace ? 'ext4-inplace' : 'ext4-existing',
      bigFileCopy: true,
        title: `${L.big} onto an existing DEST${inplace ? ', --inplace' : ''}, same ext4`,
        files: inplace ? undefined : () => writeRandomFile(old, size.big),
        dests: [dst],
        beforeRun: makeDest,
        tools: [
          inplace ? { ...tscpTool('--inplace', bigExt4, dst), name: 'tscp --inplace' } : tscpTool(bigExt4, dst),
          cp(bigExt4, dst),
          ...uu(bigExt4, dst),
        ],
        target: { peer: 'cp', max: 1.1 },
        check: wholeCheck(bigExt4, dst),
        runs: opts.runs,
        notes: [`DEST (${L.big} of other bytes) made anew before every run, untimed, and synced; cp writes into DEST (truncate, then copy), ${inplace ? 'as tscp --inplace does' : 'tscp writes a temporary file and exchanges it with DEST (renameat2 RENAME_EXCHANGE), then unlinks the old file'}`, ...uuNote],
      });
    }
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
      bigFileCopy: true,
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
      target: { peer: 'node', max: 1.3 },
      check: reflinkCheck(src, dst),
      runs: many(3),
      notes: [...uuNote],
    });
  }

  // 4b. FUSE: mergerfs over a branch directory on the XFS (reflink=1) mount. FICLONE is
  // refused on FUSE (EOPNOTSUPP); mergerfs passes copy_file_range through to the branch,
  // where XFS shares the extents. DEST's extents shared with SOURCE's on the branch prove
  // that no byte crossed FUSE. The copy ends as a reflink, so the target is the reflink
  // one (against bare `node -e 0`); cp does the same calls (one copy_file_range for all).
  {
    const branch = path.join(xfs, 'branch');
    const mnt = ws.mergerfs('mergerfs', branch);
    const src = path.join(mnt, 'big.src');
    const dst = path.join(mnt, 'big.dst');
    const onBranch = (f) => path.join(branch, path.basename(f));
    scenarios.push({
      id: 'fuse-mergerfs',
      bigFileCopy: true,
      title: `${L.big} within a mergerfs (FUSE) mount over XFS`,
      files: () => writeRandomFile(onBranch(src), size.big),
      dests: [dst],
      tools: [tscpTool(src, dst), nodeFloor, cp(src, dst), nodeCopyFile(src, dst)],
      target: { peer: 'node', max: 1.3 },
      checkPeers: true,
      check: reflinkCheck(onBranch(src), onBranch(dst)),
      runs: many(3),
      notes: [
        `mergerfs -o ${ws.mounts.mergerfs.options} BRANCH MOUNT, BRANCH a directory on the XFS (reflink=1) mount; SOURCE and DEST are paths in MOUNT, the check (cmp, filefrag -v) reads them on BRANCH`,
      ],
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
      target: { peer: 'node', max: 2.0 },
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

  // 8b. A whole copy of a 4 KiB file on tmpfs: start-up, one small copy, exit.
  {
    const src = path.join(tmp, 'small.src');
    const dst = path.join(tmp, 'small.dst');
    scenarios.push({
      id: 'small-tmpfs',
      title: `whole copy of a ${formatBytes(size.small)} file (tmpfs)`,
      files: () => writeRandomFile(src, size.small),
      dests: [dst],
      tools: [tscpTool(src, dst), nodeFloor, cp(src, dst), ...uu(src, dst), nodeCopyFile(src, dst)],
      target: { peer: 'node', max: 1.25 },
      check: wholeCheck(src, dst),
      runs: many(4),
      notes: [...uuNote],
    });
  }

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

  // 10-12. Trees, cp -a semantics (tscp: worker threads, -j default). A run takes seconds
  // (the full tree) and its preparation (rm -rf of the last copy, sync) as long again: fewer
  // rounds, 3 of the default 7.
  const treeRuns = opts.quick ? opts.runs : Math.max(1, Math.round((opts.runs * 3) / 7));
  const rsyncNote = tools.rsync ? [] : ['rsync skipped: not installed'];
  const treePlan = planTree({ files: size.tree.files, totalBytes: size.tree.bytes, seed: TREE_SEED });
  const emptyPlan = planEmptyTree(size.emptyTree);
  const count = (n) => n.toLocaleString('en-US');
  const treeLabel = `${count(treePlan.files.length)} files / ${formatBytes(treePlan.totalBytes)}`;
  const sortedSizes = treePlan.files.map((f) => f.size).sort((a, b) => a - b);
  const treeNote =
    `tree (seed ${TREE_SEED}): ${count(treePlan.files.length)} files in ${count(treePlan.dirs.length)} directories (up to ${treePlan.maxDepth} deep), ` +
    `${count(treePlan.emptyFiles)} empty, median ${formatBytes(sortedSizes[sortedSizes.length >> 1])}, largest ${formatBytes(treePlan.largestBytes)}, ${formatBytes(treePlan.totalBytes)} in all`;
  // Every tool's output is checked (a peer's incomplete copy would make its time meaningless);
  // only tscp's decides whether the suite passes.
  const treeTools = (src, dst, { rsync = true } = {}) => [
    { ...tscpTool('-a', src, dst), name: 'tscp -a' },
    cp('-a', src, dst),
    ...uu('-a', src, dst),
    ...(rsync && tools.rsync ? [{ key: 'rsync', name: `rsync -a (${tools.rsync.version?.match(/version (\S+)/)?.[1] ?? '?'})`, argv: [...tools.rsync.argv, '-a', `${src}/`, dst] }] : []),
    nodeCpSync(src, dst),
  ];
  const sourceSummaries = new Map();
  const treeFiles = (src, plan) => () => {
    writeTree(src, plan);
    sourceSummaries.set(src, treeSummary(src));
  };
  const treeCheck = (src, dst, plan, { reflink = false } = {}) => (tool) => {
    const c = compareTrees(src, dst, plan, sourceSummaries.get(src));
    if (!reflink || !c.complete) return c;
    // Reflinked: every sampled non-empty file shares its whole extent(s) with SOURCE.
    sh('sync', ['-f', dst]);
    const sample = sampleIndices(plan, 32).filter((i) => plan.files[i].size > 0);
    let fully = 0;
    for (const i of sample) {
      const shared = sharedBytes(path.join(dst, plan.files[i].rel));
      if (shared !== null && shared >= plan.files[i].size) fully++;
    }
    const ok = c.ok && (!tool.tscp || fully === sample.length);
    return { ...c, ok, sharedSample: sample.length, fullyShared: fully, detail: `${c.detail}; ${fully} of ${sample.length} sampled non-empty files fully shared` };
  };

  {
    const src = path.join(ext4Loop, 'tree.src');
    const dst = path.join(ext4Loop, 'tree.dst');
    scenarios.push({
      id: 'tree-ext4',
      title: `tree, ${treeLabel}, same ext4`,
      files: treeFiles(src, treePlan),
      dests: [dst],
      tools: treeTools(src, dst),
      target: { peer: 'cp', max: 0.8 },
      checkPeers: true,
      check: treeCheck(src, dst, treePlan),
      runs: treeRuns,
      tree: true,
      rssTarget: TREE_RSS_TARGET_MIB,
      notes: [
        treeNote,
        `on a ${formatBytes(size.ext4Image)} loop-mounted ext4 (mkfs.ext4 -N ${size.ext4Inodes}, inode tables initialised up front); no reflink on ext4, so every tool copies the bytes`,
        'rsync -a SRC/ DST; node: fs.cpSync(SRC, DST, { recursive: true, preserveTimestamps: true })',
        ...uuNote,
        ...rsyncNote,
      ],
    });
  }
  {
    const src = path.join(xfs, 'tree.src');
    const dst = path.join(xfs, 'tree.dst');
    scenarios.push({
      id: 'tree-xfs-reflink',
      title: `tree, ${treeLabel}, reflink on XFS`,
      files: treeFiles(src, treePlan),
      dests: [dst],
      tools: treeTools(src, dst),
      target: { peer: 'cp', max: 0.8 },
      checkPeers: true,
      check: treeCheck(src, dst, treePlan, { reflink: true }),
      runs: treeRuns,
      tree: true,
      notes: ['the same tree (same seed) on the XFS (reflink=1) mount; tscp and cp (reflink=auto) clone every file, rsync copies the bytes, fs.cpSync copies with copy_file_range (which XFS turns into a clone)', ...uuNote, ...rsyncNote],
    });
  }
  {
    const src = path.join(xfs, 'empty.src');
    const dst = path.join(xfs, 'empty.dst');
    const n = emptyPlan.files.length;
    scenarios.push({
      id: 'tree-empty',
      title: `tree, ${count(n)} empty files, XFS`,
      files: treeFiles(src, emptyPlan),
      dests: [dst],
      tools: treeTools(src, dst, { rsync: false }),
      target: { peer: 'cp', max: 1.0 },
      checkPeers: true,
      check: treeCheck(src, dst, emptyPlan),
      runs: treeRuns,
      tree: true,
      notes: [
        `${size.emptyTree.dirs} directories x ${size.emptyTree.perDir} empty files on the XFS mount (dynamic inodes): per-file metadata work only`,
        'rsync not run here (about as slow as fs.cpSync on this tree; it would add a minute to the suite)',
        ...uuNote,
      ],
    });
  }
  // 13. --dedupe of two VM-like images that differ in 1% of their 4 KiB blocks, spread at
  // random: every equal block should end up shared (about 99%), tscp exits 3 and lists the
  // differing ranges. No peer does this for a pair of files without hashing every block
  // first (duperemove); xfs_io's dedupe is all or nothing (it shares none of this pair). The
  // time is set against reading both files once (cat), the least any byte-exact comparison
  // must do. DEST is made anew before every run (an independent copy, then the 1% rewritten).
  {
    const dir = ws.loopFs('xfs', size.dedupeImage, { name: 'xfs-dedupe' });
    const src = path.join(dir, 'image.a');
    const dst = path.join(dir, 'image.b');
    const blocks = Math.floor(size.big / DEDUPE_BLOCK);
    const random = seededRandom(DEDUPE_SEED);
    const changed = new Set();
    while (changed.size < Math.round(blocks * DEDUPE_DIFFERING_FRACTION)) changed.add(Math.floor(random() * blocks));
    const expectedShared = size.big - changed.size * DEDUPE_BLOCK;
    let dstSha = null;
    const makeDest = () => {
      removePath(dst);
      sh('cp', ['--reflink=never', src, dst]);
      const fd = fs.openSync(dst, 'r+');
      try {
        const block = Buffer.alloc(DEDUPE_BLOCK);
        for (const i of changed) {
          fs.readSync(fd, block, 0, DEDUPE_BLOCK, i * DEDUPE_BLOCK);
          for (let k = 0; k < DEDUPE_BLOCK; k++) block[k] ^= 0xa5; // every byte of the block differs
          fs.writeSync(fd, block, 0, DEDUPE_BLOCK, i * DEDUPE_BLOCK);
        }
      } finally {
        fs.closeSync(fd);
      }
    };
    scenarios.push({
      id: 'dedupe-xfs',
      title: `--dedupe, two ${L.big} images differing in 1% of their blocks (XFS)`,
      files: () => {
        writeRandomFile(src, size.big);
        makeDest();
        dstSha = sha256File(dst);
      },
      dests: [dst],
      beforeRun: makeDest,
      tools: [
        { ...tscpTool('--dedupe', src, dst), expectStatus: 3 },
        { key: 'cat', name: 'cat SOURCE DEST > /dev/null (reading both once)', argv: ['sh', '-c', 'cat "$0" "$1" > /dev/null', src, dst] },
      ],
      target: { peer: 'cat', max: 6.0 },
      sharedTarget: DEDUPE_SHARED_TARGET,
      check: () => {
        sh('sync', ['-f', dst]);
        const shared = sharedBytes(dst);
        const unchanged = sha256File(dst) === dstSha;
        const fraction = shared === null ? 0 : shared / size.big;
        const ok = unchanged && fraction >= DEDUPE_SHARED_TARGET;
        return {
          ok,
          sharedBytes: shared,
          sharedFraction: round(fraction, 5),
          detail: `${unchanged ? 'DEST bytes unchanged' : 'DEST BYTES CHANGED'}; ${formatBytes(shared ?? 0)} shared (FIEMAP) = ${(fraction * 100).toFixed(2)}% of ${formatBytes(size.big)} (all equal blocks: ${((expectedShared / size.big) * 100).toFixed(2)}%; target >= ${DEDUPE_SHARED_TARGET * 100}%)`,
        };
      },
      runs: opts.quick ? opts.runs : Math.max(1, Math.round((opts.runs * 3) / 7)),
      notes: [
        `${changed.size} of ${blocks} blocks of 4 KiB (1%, seed ${DEDUPE_SEED}) rewritten in DEST, at random; DEST made anew (cp --reflink=never, then the blocks) before every run, untimed`,
        'no peer shares the equal blocks of a pair without hashing every block first (duperemove); xfs_io dedupe shares nothing when any byte differs',
      ],
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
    for (const d of sc.dests) removePath(d);
    for (const d of new Set(sc.dests.map((f) => path.dirname(f)))) {
      for (const name of fs.readdirSync(d)) if (name.startsWith('.tscp-')) fs.rmSync(path.join(d, name), { force: true });
    }
    // A scenario whose DEST must exist (--dedupe) makes it anew, untimed.
    sc.beforeRun?.();
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
      if (r.status !== (tool.expectStatus ?? 0)) {
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
      if (report.kind === 'tree') Object.assign(engine, { kind: 'tree', counts: report.counts, jobs: report.jobs, peakRssMiB: r.rssKiB === null ? null : round(r.rssKiB / 1024, 1) });
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
    target: { peer: targetPeer?.name ?? sc.target.peer, maxRatio: sc.target.max, ...(sc.allocationTarget ? { allocationWithinBytes: sc.allocationTarget } : {}), ...(sc.sharedTarget ? { sharedAtLeast: sc.sharedTarget } : {}) },
    runs: sc.runs,
    warmup: opts.warmup,
    tools: perTool.map(({ argv, ...rest }) => ({ ...rest, argv: argv.map(String) })),
    ratios,
    ratio,
    engine,
    met: Boolean(met),
    error,
    notes: sc.notes,
    ...(sc.tree ? { tree: true } : {}),
    ...(sc.bigFileCopy ? { bigFileCopy: true } : {}),
    ...(sc.rssTarget ? { rssTargetMiB: sc.rssTarget } : {}),
  };
  return sc.result;
}

function round3(x) {
  return round(x, 3);
}
