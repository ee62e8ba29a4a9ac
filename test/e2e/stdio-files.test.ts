/**
 * Output into files (`tscp ... >log 2>&1`): koffi's exit handler fsyncs standard output and
 * standard error, and on ext4 that flush commits the journal and waits for the data the
 * copy just wrote (src/sys/stdio-at-exit.ts). Checked with strace on a loop-mounted ext4
 * holding the copy and both output files: koffi was loaded, no fsync of fd 1 or 2 reached
 * a file, and every word tscp printed is in the files.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, ROOT, mayRun, mountFs, sha256, which, writeRandom } from '../helpers/fs.js';

const M = 1024 * 1024;

interface FileRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The traced fsync(2) calls on fd 1 and 2 that succeeded (a real flush of a file). */
  stdioSyncs: string[];
  loadedKoffi: boolean;
  /** strace's lines (fsync and openat). */
  trace: string[];
}

/** Run tscp (or, with `node`, Node with these arguments) under strace with stdout and stderr in files in `dir`. */
function runIntoFiles(t: Test, dir: string, args: string[], { node = false } = {}): FileRun | null {
  if (!mayRun(t, which('strace') ? null : 'strace is not installed (apt-get install -y strace)')) return null;
  const stamp = process.hrtime.bigint();
  const [outPath, errPath, tracePath] = ['out', 'err', 'trace'].map((n) => path.join(dir, `.${n}-${stamp}`)) as [string, string, string];
  const out = fs.openSync(outPath, 'w');
  const err = fs.openSync(errPath, 'w');
  const env = { ...process.env, FORCE_COLOR: '0' };
  delete env.NODE_OPTIONS; // tap's loaders: tscp runs as it does for users
  try {
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fsync,openat', '-o', tracePath, '--', process.execPath, ...(node ? [] : [BIN]), ...args], {
      stdio: ['ignore', out, err],
      env,
      timeout: 120_000,
    });
    const trace = fs.readFileSync(tracePath, 'utf8').split('\n');
    return {
      status: r.status,
      stdout: fs.readFileSync(outPath, 'utf8'),
      stderr: fs.readFileSync(errPath, 'utf8'),
      stdioSyncs: trace.filter((l) => /fsync\([12]\)\s+= 0/.test(l)),
      trace,
      loadedKoffi: trace.some((l) => /koffi[^"]*\.node"/.test(l) && !/= -1 /.test(l)),
    };
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
    for (const p of [outPath, errPath, tracePath]) fs.rmSync(p, { force: true });
  }
}

t.test('stdout and stderr in files on ext4: koffi loaded, neither file flushed at exit, all output there', async (t) => {
  const dir = mountFs(t, 'ext4', 256);
  if (!dir) return;
  const src = path.join(dir, 'src');
  const dst = path.join(dir, 'dst');
  writeRandom(src, 8 * M);
  fs.writeFileSync(dst, 'old DEST\n');

  await t.test('one file through the engine (-v --copy over an existing DEST)', async (t) => {
    const r = runIntoFiles(t, dir, ['-v', '--copy', src, dst]);
    if (!r) return;
    t.equal(r.status, 0, `exit 0 ${r.stderr}`);
    t.ok(r.loadedKoffi, 'koffi was loaded (its exit handler is registered)');
    t.same(r.stdioSyncs, [], 'no fsync of stdout or stderr succeeded');
    t.match(r.stdout, /^'.*src' -> '.*dst': 8\.0 MiB, copied in-kernel/, "the -v line is in stdout's file");
    t.equal(sha256(dst), sha256(src), "DEST has SOURCE's bytes");
  });

  await t.test('a tree (-a --json): the workers load koffi, the main thread need not', async (t) => {
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(path.join(tree, 'sub'), { recursive: true });
    for (const name of ['a', 'sub/b']) writeRandom(path.join(tree, name), 64 * 1024);
    const r = runIntoFiles(t, dir, ['-a', '--json', tree, path.join(dir, 'tree-copy')]);
    if (!r) return;
    t.equal(r.status, 0, `exit 0 ${r.stderr}`);
    t.ok(r.loadedKoffi, 'koffi was loaded');
    t.same(r.stdioSyncs, [], 'no fsync of stdout or stderr succeeded');
    const report = JSON.parse(r.stdout) as { ok: boolean; counts: { files: number } };
    t.equal(report.ok, true, "the whole --json document is in stdout's file");
    t.equal(report.counts.files, 2, 'it counts both files');
    t.equal(sha256(path.join(dir, 'tree-copy', 'sub', 'b')), sha256(path.join(tree, 'sub', 'b')), 'the files were copied');
  });

  await t.test('the library: copyTree with the output in files flushes neither while the program runs on', async (t) => {
    const tree = path.join(dir, 'lib-tree');
    fs.mkdirSync(tree);
    writeRandom(path.join(tree, 'a'), 64 * 1024);
    // After the copy the program opens a marker file: anything koffi flushed before that
    // line was flushed when the tree's workers ended, not at the program's exit.
    const script = [
      `import { copyTree } from ${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))};`,
      'import fs from "node:fs";',
      `const r = await copyTree([${JSON.stringify(tree)}], ${JSON.stringify(path.join(dir, 'lib-copy'))}, { recursive: true });`,
      'console.log(JSON.stringify(r.counts));',
      `fs.closeSync(fs.openSync(${JSON.stringify(path.join(dir, 'after-copy'))}, "w"));`,
    ].join('\n');
    const r = runIntoFiles(t, dir, ['--input-type=module', '-e', script], { node: true });
    if (!r) return;
    t.equal(r.status, 0, `exit 0 ${r.stderr}`);
    t.ok(r.loadedKoffi, 'koffi was loaded');
    const marker = r.trace.findIndex((l) => l.includes('after-copy'));
    t.ok(marker > 0, 'the program went on after the copy');
    t.same(r.trace.slice(0, marker).filter((l) => /fsync\([12]\)\s+= 0/.test(l)), [], 'no fsync of stdout or stderr succeeded before then');
    t.match(r.stdout, /"files":1/, "the program's output is in stdout's file");
  });

  await t.test('a failure: its one-line error is in stderr\'s file', async (t) => {
    const missing = path.join(dir, 'missing');
    const r = runIntoFiles(t, dir, ['--copy', missing, path.join(dir, 'nowhere')]);
    if (!r) return;
    t.equal(r.status, 1, 'exit 1');
    t.same(r.stdioSyncs, [], 'no fsync of stdout or stderr succeeded');
    t.match(r.stderr, /^tscp: .*missing.*No such file or directory \(ENOENT\)\n$/, 'the error line, whole');
  });
});
