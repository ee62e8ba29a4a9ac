/**
 * The benchmark suite works: `node bench/run.js --quick` (tiny files, one run after one
 * warm-up, every scenario) exits 0, prints the table, writes JSON with every scenario and
 * an SVG chart, and leaves no mount or loop device behind. Targets are not enforced here.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, cannotMountReason, mayRun } from './helpers/fs.js';

const SCENARIOS = [
  'ext4-same',
  'ext4-to-xfs',
  'ext4-existing',
  'ext4-inplace',
  'reflink-xfs',
  'reflink-btrfs',
  'fuse-mergerfs',
  'sparse-ext4',
  'sparse-tmpfs',
  'range-unaligned',
  'startup-version',
  'small-tmpfs',
  'progress',
  'tree-ext4',
  'tree-xfs-reflink',
  'tree-empty',
  'dedupe-xfs',
];

interface ToolResult {
  name: string;
  tscp: boolean;
  runs: { ms: number }[];
  medianMs: number | null;
  check: { ok?: boolean; detail: string } | null;
}
interface ScenarioResult {
  id: string;
  ratio: number | null;
  met: boolean;
  error: string | null;
  tools: ToolResult[];
}
interface Results {
  mode: string;
  workspace: string;
  scenarios: ScenarioResult[];
  rss: { peakMiB: number | null; targetMiB: number } | null;
  treeRss: { peakMiB: number | null; targetMiB: number; scenario: string } | null;
  startup: { steps: { id: string; medianMs: number }[] } | null;
  sweeps: { series: { points: { value: number; medianMs: number }[] }[]; crossFs: { faster: string } } | null;
}

/** Lines of /proc/self/mounts and `losetup --list` that mention `dir`. */
function leftBehind(dir: string): string[] {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(dir));
  const loops = spawnSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.includes(dir));
  return [...mounts, ...loops];
}

function runBench(t: Test, args: string[]): { status: number | null; stdout: string; stderr: string; results: Results | null } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tscp-bench-test-'));
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
  const json = path.join(out, 'results.json');
  const svg = path.join(out, 'chart.svg');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bench', 'run.js'), ...args, '--json', json, '--svg', svg], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  let results: Results | null = null;
  try {
    results = JSON.parse(fs.readFileSync(json, 'utf8')) as Results;
  } catch {
    // Checked by the caller.
  }
  if (results) {
    t.same(leftBehind(results.workspace), [], 'no mount or loop device left under the workspace');
    t.notOk(fs.existsSync(results.workspace), 'the workspace directory is removed');
  }
  if (fs.existsSync(svg)) {
    const text = fs.readFileSync(svg, 'utf8');
    t.match(text, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, 'the chart is an SVG document');
    t.match(text, /<\/svg>\s*$/, 'the chart is complete');
  }
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr), results };
}

t.test('bench --quick runs every scenario, prints the table, writes JSON and cleans up', async (t) => {
  if (!mayRun(t, cannotMountReason('xfs') ?? cannotMountReason('btrfs') ?? cannotMountReason('ext4'))) return;
  const r = runBench(t, ['--quick']);
  t.equal(r.status, 0, `exit 0${r.status === 0 ? '' : ` (stderr: ${r.stderr.slice(-2000)})`}`);
  t.match(r.stdout, /^scenario\s+tool\s+median\s+min-max\s+peak RSS/m, 'the table header is printed');
  t.match(r.stdout, /^peak RSS of tscp, big-file copies/m, 'the RSS row is printed');
  t.match(r.stdout, /^peak RSS of tscp -a, tree on ext4/m, 'the tree RSS row is printed');
  t.match(r.stdout, /^start-up step/m, 'the start-up breakdown is printed');
  t.ok(r.results, 'valid JSON was written');
  if (!r.results) return;
  t.equal(r.results.mode, 'quick');
  t.same(
    r.results.scenarios.map((s) => s.id),
    SCENARIOS,
    'every scenario is in the JSON',
  );
  for (const s of r.results.scenarios) {
    t.equal(s.error, null, `${s.id}: no error`);
    t.ok(typeof s.ratio === 'number' && s.ratio > 0, `${s.id}: has a ratio`);
    t.ok(typeof s.met === 'boolean', `${s.id}: says whether its target was met`);
    for (const tool of s.tools) {
      t.equal(tool.runs.length, 1, `${s.id}/${tool.name}: one counted run`);
      t.ok(typeof tool.medianMs === 'number' && tool.medianMs > 0, `${s.id}/${tool.name}: timed`);
      if (tool.tscp && tool.check) t.not(tool.check.ok, false, `${s.id}/${tool.name}: output correct (${tool.check.detail})`);
    }
    t.ok(r.stdout.includes(s.tools[0]!.name), `${s.id}: in the table`);
  }
  t.ok(r.results.rss && typeof r.results.rss.peakMiB === 'number', 'peak RSS measured');
  t.ok(r.results.treeRss && typeof r.results.treeRss.peakMiB === 'number' && r.results.treeRss.targetMiB === 120, 'peak RSS of tscp -a on the ext4 tree measured, target 120 MiB');
  t.ok(r.results.startup && r.results.startup.steps.length > 0, 'start-up steps measured');
});

t.test('bench --quick --sweep runs the sweeps and the start-up breakdown', async (t) => {
  if (!mayRun(t, cannotMountReason('xfs'))) return;
  const r = runBench(t, ['--quick', '--sweep']);
  t.equal(r.status, 0, `exit 0${r.status === 0 ? '' : ` (stderr: ${r.stderr.slice(-2000)})`}`);
  t.ok(r.results?.sweeps, 'sweeps in the JSON');
  if (!r.results?.sweeps) return;
  t.equal(r.results.sweeps.series.length, 4, 'copy_file_range, sendfile, read/write and copy_file_range-on-FUSE series');
  for (const s of r.results.sweeps.series) t.ok(s.points.every((p) => p.medianMs > 0), 'every point timed');
  t.match(r.results.sweeps.crossFs.faster, /^(sendfile|read\/write)$/, 'says which is faster across filesystems');
  t.match(r.stdout, /fastest:/, 'the sweep tables are printed');
});
