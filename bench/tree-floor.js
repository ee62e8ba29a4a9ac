#!/usr/bin/env node
/**
 * Where a tree copy's CPU goes, per file: GNU cp -a, the system calls tscp makes for each
 * file replayed in a bare loop through the same bindings (dist/sys: Node's fs and koffi),
 * and tscp -a itself, with one worker (-j 1) and with the default. CPU is user + system
 * time of the whole process (getrusage of the child), divided by the number of files.
 *
 *   node bench/tree-floor.js DIR [FILES]     DIR on the filesystem to measure (ext4 in the
 *                                            README's figures); FILES small files (20000)
 *
 * The bare loop is the floor of this design: every file's calls (lstat, open, fstat,
 * O_TMPFILE open, copy_file_range, fstat, futimens, flistxattr, fchmod, linkat, two closes)
 * crossing from JavaScript, with no engine, scheduling or messages around them. Needs a
 * built dist/ (npm run build).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'tscp.js');
const FILES_PER_DIR = 100;

const [dir, countArg] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: node bench/tree-floor.js DIR [FILES]\n');
  process.exit(2);
}
const count = Number(countArg ?? 20000);

/** A tree of `count` files of 1-8 KiB, FILES_PER_DIR to a directory. */
function makeTree(root) {
  fs.mkdirSync(root, { recursive: true });
  const data = Buffer.alloc(8192, 0x5a);
  for (let i = 0; i < count; i++) {
    const sub = path.join(root, `d${Math.floor(i / FILES_PER_DIR)}`);
    if (i % FILES_PER_DIR === 0) fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, `f${i}`), data.subarray(0, 1024 + ((i * 977) % 7168)));
  }
}

function sync() {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** Run argv; its wall time in ms. */
function measure(argv) {
  const started = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
  const wall = performance.now() - started;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return { wall };
}

/**
 * CPU (ms) of this process's reaped children so far (cutime + cstime in /proc/self/stat):
 * spawnSync does not report a child's rusage.
 */
function childrenCpuMs() {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[13]) + Number(fields[14]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

function run(label, argv, dest) {
  fs.rmSync(dest, { recursive: true, force: true });
  sync();
  const cpu0 = childrenCpuMs();
  const { wall } = measure(argv);
  const cpu = childrenCpuMs() - cpu0;
  return { label, wallMs: Math.round(wall), cpuMs: Math.round(cpu), cpuUsPerFile: Math.round((cpu * 1000) / count) };
}

const src = path.join(dir, 'floor.src');
fs.rmSync(src, { recursive: true, force: true });
makeTree(src);
sync();
const loop = path.join(ROOT, 'bench', 'lib', 'floor-loop.js');
const rows = [];
for (let round = 0; round < 3; round++) {
  rows.push(run('cp -a', ['cp', '-a', src, path.join(dir, 'floor.cp')], path.join(dir, 'floor.cp')));
  rows.push(run('bare loop of the same calls (one thread)', [process.execPath, loop, src, path.join(dir, 'floor.loop')], path.join(dir, 'floor.loop')));
  rows.push(run('tscp -a -j 1', [process.execPath, BIN, '-a', '-j', '1', src, path.join(dir, 'floor.j1')], path.join(dir, 'floor.j1')));
  rows.push(run('tscp -a', [process.execPath, BIN, '-a', src, path.join(dir, 'floor.jn')], path.join(dir, 'floor.jn')));
}
for (const d of ['floor.src', 'floor.cp', 'floor.loop', 'floor.j1', 'floor.jn']) fs.rmSync(path.join(dir, d), { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
process.stdout.write(`${count} files of 1-8 KiB in ${count / FILES_PER_DIR} directories, ${dir}; medians of 3\n\n`);
process.stdout.write('| run | wall | CPU | CPU per file |\n|---|---|---|---|\n');
for (const label of [...new Set(rows.map((r) => r.label))]) {
  const mine = rows.filter((r) => r.label === label);
  process.stdout.write(`| ${label} | ${median(mine.map((r) => r.wallMs))} ms | ${median(mine.map((r) => r.cpuMs))} ms | ${median(mine.map((r) => r.cpuUsPerFile))} µs |\n`);
}
