#!/usr/bin/env node
/**
 * The tscp benchmark suite. Needs root (loop mounts), xfsprogs, btrfs-progs and e2fsprogs, GNU time
 * (/usr/bin/time, for peak RSS) and a built dist/ (npx tsc -p .). See bench/README.md.
 *
 *   npm run bench                  the scenarios against their targets (~20 minutes on 2 cores at load 3-4)
 *   npm run bench -- --quick       smoke run: tiny files, 1 run + 1 warm-up, every scenario
 *   npm run bench -- --sweep       request-size and buffer-size sweeps, and the start-up breakdown
 *
 * Options: --runs N (counted runs per scenario, default 7; cheap scenarios run 2-4x more, the
 * tree scenarios 3/7 of it),
 * --warmup N (default 1), --only ID[,ID] (scenarios by id), --drop-caches (drop the page
 * cache before every run instead of starting warm), --json FILE, --svg FILE, --enforce
 * (exit 1 when a target is missed), --no-startup (skip the start-up breakdown), --keep-env
(do not remove NODE_EXTRA_CA_CERTS, NODE_V8_COVERAGE and NODE_OPTIONS from the children's
environment), --render-chart (only redraw the SVG and table from --json FILE, default
bench/results/latest.json; needs no root).
 *
 * Exit status: 0 when every scenario ran and every tscp output was correct (targets are
 * reported, not enforced, unless --enforce); 1 when something failed; 2 on a usage error.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Workspace, cannotMountReason } from './lib/env.js';
import { GNU_TIME, HAVE_GNU_TIME, REMOVED_ENV, harnessFloorMs, keepEnvironment } from './lib/measure.js';
import { renderSvg, scenarioTable, startupTable, sweepTables } from './lib/report.js';
import { SIZES, buildScenarios, detectTools, runScenario } from './lib/scenarios.js';
import { measureStartup } from './lib/startup.js';
import { runSweeps } from './lib/sweep.js';
import { GiB, MiB, ROOT, round, syncAll, writeRandomFile } from './lib/util.js';

/** Peak RSS target of tscp copying one 1 GiB regular file (issue 10). */
const RSS_TARGET_MIB = 50;

function parseArgs(argv) {
  const o = { quick: false, sweep: false, runs: null, warmup: null, only: null, dropCaches: false, json: null, svg: null, enforce: false, startup: true, keepEnv: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--sweep') o.sweep = true;
    else if (a === '--runs') o.runs = positive(a, value());
    else if (a === '--warmup') o.warmup = nonNegative(a, value());
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--drop-caches') o.dropCaches = true;
    else if (a === '--json') o.json = path.resolve(value());
    else if (a === '--svg') o.svg = path.resolve(value());
    else if (a === '--enforce') o.enforce = true;
    else if (a === '--no-startup') o.startup = false;
    else if (a === '--keep-env') o.keepEnv = true;
    else if (a === '--render-chart') o.renderChart = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(fs.readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0].replace(/^#!.*\n\/\*\*\n/, '').replace(/^ \* ?/gm, ''));
      process.exit(0);
    } else usage(`unknown option ${a}`);
  }
  o.runs ??= o.quick ? 1 : o.sweep ? 5 : 7;
  o.warmup ??= 1;
  return o;
}

function usage(msg) {
  process.stderr.write(`bench: ${msg}\nTry 'node bench/run.js --help'.\n`);
  process.exit(2);
}
function positive(name, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) usage(`${name} must be a positive integer`);
  return n;
}
function nonNegative(name, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) usage(`${name} must be a non-negative integer`);
  return n;
}

const log = (s) => process.stderr.write(`${s}\n`);

/** Which build was measured: the commit, whether src/ differs from it, when dist/ was built. */
function buildInfo() {
  const git = (args) => {
    const r = spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  return {
    commit: git(['rev-parse', '--short', 'HEAD']),
    srcDirty: (git(['status', '--porcelain', '--', 'src', 'bin', 'package.json']) ?? '') !== '',
    distBuiltAt: newestMtime(path.join(ROOT, 'dist')),
  };
}

function newestMtime(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.js')) continue;
    newest = Math.max(newest, fs.statSync(path.join(e.parentPath ?? e.path, e.name)).mtimeMs);
  }
  return newest ? new Date(newest).toISOString() : null;
}

function machine() {
  return {
    node: process.version,
    kernel: os.release(),
    cpus: os.cpus().length,
    memGiB: round(os.totalmem() / GiB, 1),
    loadavg: os.loadavg().map((x) => round(x, 2)),
  };
}

/** --render-chart: redraw the SVG from a results file (--json, default latest.json). */
function renderChartOnly(opts) {
  const jsonPath = opts.json ?? path.join(ROOT, 'bench', 'results', 'latest.json');
  const results = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  if (!results.scenarios?.length) {
    log(`bench: ${jsonPath} has no scenarios to chart`);
    return 1;
  }
  const svgPath = opts.svg ?? path.join(ROOT, 'bench', results.mode === 'quick' ? 'results/chart-quick.svg' : 'chart.svg');
  fs.writeFileSync(svgPath, renderSvg(results));
  process.stdout.write(`${scenarioTable(results)}\n\nchart: ${path.relative(process.cwd(), svgPath)}\n`);
  return 0;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.renderChart) return renderChartOnly(opts);
  const reason = cannotMountReason();
  if (reason) {
    log(`bench: cannot run: ${reason}`);
    return 1;
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) {
    log('bench: dist/ is missing: build first (npx tsc -p .)');
    return 1;
  }
  if (!HAVE_GNU_TIME) log(`bench: ${GNU_TIME} not found (apt-get install time): peak RSS will not be measured`);
  const mode = opts.sweep ? 'sweep' : opts.quick ? 'quick' : 'full';
  const size = opts.quick ? SIZES.quick : SIZES.full;
  const resultsDir = path.join(ROOT, 'bench', 'results');
  const jsonPath = opts.json ?? path.join(resultsDir, opts.sweep ? (opts.quick ? 'sweep-quick.json' : 'sweep.json') : opts.quick ? 'quick.json' : 'latest.json');
  const svgPath = opts.svg ?? (opts.quick ? path.join(resultsDir, 'chart-quick.svg') : path.join(ROOT, 'bench', 'chart.svg'));
  const started = new Date();
  const results = {
    schema: 1,
    mode,
    startedAt: started.toISOString(),
    finishedAt: null,
    durationS: null,
    machine: machine(),
    build: buildInfo(),
    method: {
      runs: opts.runs,
      warmup: opts.warmup,
      caches: opts.dropCaches ? 'dropped before every run (sync; echo 3 > /proc/sys/vm/drop_caches)' : 'warm (sync before every run, no drop)',
      order: 'rounds alternate the tools: tscp, peer, peer..., tscp, peer, peer...',
      wallTime: 'performance.now() around spawnSync of the whole process (includes the harness floor)',
      rss: HAVE_GNU_TIME ? `${GNU_TIME} -f %M (child ru_maxrss from wait4)` : null,
      harnessFloorMs: null,
      environment: opts.keepEnv ? 'as given' : `as given, less ${REMOVED_ENV.join(', ')} (start-up settings of Node, not of the tools)`,
    },
    workspace: null,
    tools: null,
    scenarios: [],
    rss: null,
    treeRss: null,
    startup: null,
    sweeps: null,
    summary: null,
  };

  if (opts.keepEnv) keepEnvironment();
  const ws = new Workspace();
  results.workspace = ws.base;
  let failed = false;
  try {
    const tools = detectTools();
    results.tools = tools;
    log(`bench: ${mode} run in ${ws.base}`);
    results.method.harnessFloorMs = round(harnessFloorMs(), 2);

    if (opts.sweep) {
      const ext4 = ws.hostDir('ext4');
      const xfs = ws.loopFs('xfs', opts.quick ? 512 * MiB : 4 * GiB);
      const tmp = ws.tmpfs(64 * MiB);
      const branch = path.join(xfs, 'branch');
      const mergerfs = ws.mergerfs('mergerfs', branch);
      const src = path.join(ext4, 'sweep.src');
      log(`bench: writing ${opts.quick ? '8 MiB' : '1 GiB'} sources`);
      writeRandomFile(src, opts.quick ? 8 * MiB : GiB);
      writeRandomFile(path.join(branch, 'sweep.src'), opts.quick ? 8 * MiB : GiB);
      syncAll();
      results.mounts = ws.mounts;
      results.sweeps = await runSweeps({
        dirs: { ext4, xfs, mergerfs },
        src,
        fuseSrc: path.join(mergerfs, 'sweep.src'),
        rounds: opts.runs,
        warmup: opts.warmup,
        dropCachesEachRun: opts.dropCaches,
        log,
      });
      results.startup = await measureStartup({ rounds: opts.quick ? 1 : 15, warmup: 1, tmpDir: tmp, log });
    } else {
      let scenarios = buildScenarios(ws, size, tools, opts);
      results.mounts = ws.mounts;
      if (ws.mounts.ext4.fstype !== 'ext4') log(`bench: note: ${ws.mounts.ext4.dir} is ${ws.mounts.ext4.fstype}, not ext4`);
      log('bench: creating files');
      const t0 = performance.now();
      for (const sc of scenarios) sc.files?.();
      syncAll();
      log(`bench: files ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (opts.only) {
        const unknown = opts.only.filter((id) => !scenarios.some((s) => s.id === id));
        if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; ids: ${scenarios.map((s) => s.id).join(', ')}`);
        scenarios = scenarios.filter((s) => opts.only.includes(s.id));
      }
      for (const sc of scenarios) {
        log(`bench: ${sc.id}: ${sc.title} (${sc.tools.map((t) => t.name).join(' / ')}; ${opts.warmup} warm-up + ${sc.runs} runs)`);
        const r = await runScenario(sc, opts, log);
        results.scenarios.push(r);
        if (r.error) {
          failed = true;
          log(`bench: ${sc.id}: ERROR ${r.error}`);
        }
        const badCheck = r.tools.find((t) => t.tscp && t.check && t.check.ok === false);
        if (badCheck) {
          failed = true;
          log(`bench: ${sc.id}: tscp's output is wrong: ${badCheck.check.detail}`);
        }
      }
      // Peak RSS over every tscp copy of the big (1 GiB) regular file, warm-ups included: the
      // whole-file scenarios marked bigFileCopy (same ext4, ext4 -> XFS, onto an existing
      // DEST, reflinks, FUSE). The tree scenarios have their own target (worker threads),
      // measured on tree-ext4 below.
      let peak = null;
      for (const s of results.scenarios) {
        if (s.tree || !s.bigFileCopy) continue;
        for (const t of s.tools) {
          if (!t.tscp || t.noCopy || t.peakRssMiB === null) continue;
          if (peak === null || t.peakRssMiB > peak.peakMiB) peak = { peakMiB: t.peakRssMiB, scenario: `${s.id} (${t.name})` };
        }
      }
      const nodeFloorRss = results.scenarios.flatMap((s) => s.tools.filter((t) => t.key === 'node')).map((t) => t.peakRssMiB).filter((x) => x !== null);
      const fileCopies = results.scenarios.some((s) => s.bigFileCopy);
      results.rss = fileCopies
        ? {
            peakMiB: peak?.peakMiB ?? null,
            scenario: peak?.scenario ?? null,
            nodeFloorMiB: nodeFloorRss.length ? Math.max(...nodeFloorRss) : null,
            targetMiB: RSS_TARGET_MIB,
            met: peak !== null && peak.peakMiB <= RSS_TARGET_MIB,
          }
        : null;
      // Peak RSS of tscp -a on the tree-ext4 tree (its warm-up and counted runs, GNU time's
      // ru_maxrss of the whole process: main thread and workers).
      const treeSc = results.scenarios.find((s) => s.rssTargetMiB);
      if (treeSc) {
        const t = treeSc.tools[0];
        results.treeRss = {
          peakMiB: t.peakRssMiB,
          scenario: `${treeSc.id} (${t.name})`,
          jobs: treeSc.engine?.jobs ?? null,
          targetMiB: treeSc.rssTargetMiB,
          met: t.peakRssMiB !== null && t.peakRssMiB <= treeSc.rssTargetMiB,
        };
      }
      if (opts.startup) results.startup = await measureStartup({ rounds: opts.quick ? 1 : 11, warmup: 1, tmpDir: ws.mounts.tmpfs.dir, log });
    }
  } catch (err) {
    failed = true;
    log(`bench: FAILED: ${err.stack ?? err}`);
    results.error = String(err.message ?? err);
  } finally {
    const problems = ws.cleanup();
    if (problems.length) {
      failed = true;
      results.cleanupProblems = problems;
    }
  }

  const finished = new Date();
  results.finishedAt = finished.toISOString();
  results.durationS = round((finished - started) / 1000, 1);
  results.machine.loadavgEnd = os.loadavg().map((x) => round(x, 2));
  const distAtEnd = newestMtime(path.join(ROOT, 'dist'));
  if (distAtEnd !== results.build.distBuiltAt) {
    results.build.rebuiltDuringRun = distAtEnd;
    log(`bench: WARNING: dist/ was rebuilt during the run (${distAtEnd}): the results mix two builds`);
  }
  if (results.scenarios.length) {
    const missed = results.scenarios.filter((s) => !s.met).map((s) => s.id);
    if (results.rss && !results.rss.met) missed.push('peak-rss');
    if (results.treeRss && !results.treeRss.met) missed.push('peak-rss-tree');
    results.summary = {
      targets: results.scenarios.length + (results.rss ? 1 : 0) + (results.treeRss ? 1 : 0),
      met: results.scenarios.filter((s) => s.met).length + (results.rss?.met ? 1 : 0) + (results.treeRss?.met ? 1 : 0),
      missed,
    };
  }

  // Terminal output: the tables on stdout.
  const out = [];
  out.push(`tscp benchmark (${mode}): node ${results.machine.node}, Linux ${results.machine.kernel}, ${results.machine.cpus} cores, load ${results.machine.loadavg.join(' ')} -> ${results.machine.loadavgEnd.join(' ')}`);
  const b = results.build;
  out.push(`build: commit ${b.commit ?? '?'}${b.srcDirty ? ' + uncommitted changes in src/' : ''}, dist/ built ${b.distBuiltAt ?? '?'}${b.rebuiltDuringRun ? ` and REBUILT during the run (${b.rebuiltDuringRun})` : ''}`);
  out.push(`method: caches ${results.method.caches}; ${results.method.order}; harness floor ${results.method.harnessFloorMs} ms per run; environment ${results.method.environment}`);
  if (results.scenarios.length) {
    out.push('', scenarioTable(results));
    out.push('', `targets met: ${results.summary.met}/${results.summary.targets}${results.summary.missed.length ? ` (missed: ${results.summary.missed.join(', ')})` : ''}`);
    for (const s of results.scenarios) for (const n of s.notes ?? []) out.push(`note (${s.id}): ${n}`);
  }
  if (results.sweeps) out.push('', sweepTables(results.sweeps));
  if (results.startup) out.push('', startupTable(results.startup));
  out.push('', `duration ${results.durationS} s; JSON: ${path.relative(process.cwd(), jsonPath) || jsonPath}${results.scenarios.length ? `; chart: ${path.relative(process.cwd(), svgPath)}` : ''}`);
  process.stdout.write(`${out.join('\n')}\n`);

  fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
  fs.writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  if (results.scenarios.length) {
    fs.mkdirSync(path.dirname(svgPath), { recursive: true });
    fs.writeFileSync(svgPath, renderSvg(results));
  }
  if (failed) return 1;
  if (opts.enforce && results.summary?.missed.length) return 1;
  return 0;
}

process.exitCode = await main();
