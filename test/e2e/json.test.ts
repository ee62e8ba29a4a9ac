/**
 * --json end to end, and the -v line's sharing claim.
 *
 * --json prints one JSON document on stdout and nothing else there (no colour, no
 * progress, even with FORCE_COLOR=1 and --progress, even on a terminal). It reports source,
 * dest, mode, range, totalBytes, bytes by method, fallbacks with their errno, sharedBytes
 * (measured with FIEMAP: the file's size after a reflink on XFS, 0 after --copy), durationMs,
 * and on failure the error (kind, code = errno name, message) with exitCode equal to the
 * process's exit status (1, 2 for usage, 3 when --dedupe finds the contents differ, 130 on
 * SIGINT). The sharing figures are checked against filefrag, an independent witness.
 * Copies that must last (for a bar to have a chance, or to be interrupted) read a FIFO fed
 * at a fixed pace, so they last as long on a fast machine as on a slow one.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, mountFs, scratchDir, sha256, sharedBytes, writeRandom } from '../helpers/fs.js';

const K = 1024;
const MiB = 1024 * K;
const SMALL = 8 * MiB;

/** The keys the issue asks of every report. */
const REQUIRED_KEYS = ['source', 'dest', 'mode', 'range', 'totalBytes', 'bytes', 'fallbacks', 'sharedBytes', 'durationMs', 'differingRanges', 'error', 'exitCode'];
const BYTES_KEYS = ['reflinked', 'copyFileRange', 'sendfile', 'readWrite', 'deduplicated', 'holes'];

interface Report {
  [key: string]: unknown;
  ok?: boolean;
  exitCode: number;
  source: string | null;
  dest: string | null;
  mode: string | null;
  range: { srcOffset: number; dstOffset: number; length: number | null } | null;
  totalBytes: number | null;
  bytes: Record<string, number> | null;
  fallbacks: { from: string; to: string; errno: string }[];
  sharedBytes: number | null;
  durationMs: number | null;
  error: null | { kind: string; code: string | null; message: string };
}

function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'FORCE_COLOR' || k === 'NO_COLOR' || k.startsWith('TAP')) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * tscp's argv, through env(1) without NODE_OPTIONS: tap's process tracker adds its loader
 * (which installs signal handlers) to every child's NODE_OPTIONS, even with an explicit env.
 */
function tscpArgv(args: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args]];
}

function run(args: string[], env: Record<string, string | undefined> = {}): Run {
  const r = spawnSync(...tscpArgv(args), { encoding: 'utf8', env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/**
 * stdout must be exactly one JSON document: JSON.parse of the whole of it, no escape codes.
 * Returns the report, or undefined (after failing) when it is not one.
 */
function parseReport(t: Test, r: Run, what: string): Report | undefined {
  t.notMatch(r.stdout, /\x1b/, `${what}: no escape codes on stdout`);
  try {
    const report = JSON.parse(r.stdout) as Report;
    t.ok(report !== null && typeof report === 'object' && !Array.isArray(report), `${what}: stdout is one JSON object`);
    for (const key of REQUIRED_KEYS) t.ok(Object.hasOwn(report, key), `${what}: the report has "${key}"`);
    t.equal(report.exitCode, r.status, `${what}: exitCode (${report.exitCode}) is the exit status (${r.status})`);
    return report;
  } catch (err) {
    t.fail(`${what}: stdout is not one JSON document (${(err as Error).message}):\n${r.stdout}\nstderr: ${r.stderr}`);
    return undefined;
  }
}

function checkSuccess(t: Test, rep: Report, what: string, expect: { source: string; dest: string; mode: string; totalBytes: number }): void {
  t.equal(rep.error, null, `${what}: error is null`);
  t.equal(rep.source, expect.source, `${what}: source as given`);
  t.equal(rep.dest, expect.dest, `${what}: dest is the file written`);
  t.equal(rep.mode, expect.mode, `${what}: mode ${expect.mode}`);
  t.equal(rep.totalBytes, expect.totalBytes, `${what}: totalBytes`);
  t.same(Object.keys(rep.bytes ?? {}).sort(), [...BYTES_KEYS].sort(), `${what}: bytes by every method`);
  const b = rep.bytes ?? {};
  const moved = BYTES_KEYS.reduce((n, k) => n + (b[k] ?? 0), 0);
  t.equal(moved, expect.totalBytes, `${what}: the methods' bytes add up to totalBytes`);
  t.ok(Array.isArray(rep.fallbacks), `${what}: fallbacks is a list`);
  for (const f of rep.fallbacks) t.match(f, { from: String, to: String, errno: /^(E[A-Z0-9]+|EOF)$/ }, `${what}: a fallback names its errno: ${JSON.stringify(f)}`);
  t.ok(typeof rep.durationMs === 'number' && rep.durationMs >= 0, `${what}: durationMs is a number (${rep.durationMs})`);
}

/** `code`: the errno name expected, null for none (usage), undefined to not check. */
function checkFailure(t: Test, rep: Report, what: string, expect: { exitCode: number; kind: string; code?: RegExp | null }): void {
  t.equal(rep.exitCode, expect.exitCode, `${what}: exitCode ${expect.exitCode}`);
  t.ok(rep.error && typeof rep.error === 'object', `${what}: the error is reported`);
  if (!rep.error) return;
  t.equal(rep.error.kind, expect.kind, `${what}: error.kind ${expect.kind}`);
  if (expect.code) t.match(rep.error.code, expect.code, `${what}: error.code is the errno name (${rep.error.code})`);
  else if (expect.code === null) t.equal(rep.error.code, null, `${what}: no errno for a usage error`);
  t.ok(typeof rep.error.message === 'string' && rep.error.message.length > 0, `${what}: error.message: ${rep.error.message}`);
}

/**
 * A FIFO fed `chunks` x 512 KiB with a pause of `pauseMs` after each: a copy from it takes
 * at least chunks x pauseMs whatever the machine, long enough for a progress bar to appear.
 */
function slowFifo(t: Test, dir: string, name: string, chunks: number, pauseMs: number): { fifo: string; bytes: number } {
  const fifo = path.join(dir, name);
  spawnSync('mkfifo', [fifo]);
  const writer = spawn('sh', ['-c', `for i in $(seq ${chunks}); do head -c 524288 /dev/zero; sleep ${pauseMs / 1000}; done > '${fifo}'`], { stdio: 'ignore' });
  t.teardown(() => {
    if (writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
  });
  return { fifo, bytes: chunks * 512 * K };
}

const xfs = mountFs(t, 'xfs');
const ext4 = xfs && mountFs(t, 'ext4');
if (xfs && ext4) main(xfs, ext4);

function main(xfs: string, ext4: string): void {
  const scratch = scratchDir(t);
  const src = path.join(xfs, 'src');
  writeRandom(src, SMALL);
  const ext4Src = path.join(ext4, 'src');
  writeRandom(ext4Src, SMALL);

  t.test('reflink on XFS: the report, and sharedBytes measured at the file size', async (t) => {
    const dest = path.join(xfs, 'reflinked');
    t.teardown(() => fs.rmSync(dest, { force: true }));
    const r = run(['--json', src, dest]);
    t.equal(r.status, 0, 'exit 0');
    t.equal(r.stderr, '', 'nothing on stderr');
    const rep = parseReport(t, r, 'reflink');
    if (!rep) return;
    checkSuccess(t, rep, 'reflink', { source: src, dest, mode: 'auto', totalBytes: SMALL });
    t.equal(rep.ok, true, 'ok: true');
    t.equal(rep.range, null, 'range is null for a whole file');
    t.equal(rep.bytes?.reflinked, SMALL, 'every byte reflinked');
    t.same(rep.fallbacks, [], 'no fallbacks');
    t.equal(rep.sharedBytes, SMALL, 'sharedBytes is the file size');
    const witness = sharedBytes(dest);
    t.ok(witness >= SMALL * 0.95, `filefrag agrees: ${witness} bytes of DEST are shared`);
    t.equal(sha256(dest), sha256(src), 'DEST has SOURCE bytes');
  });

  t.test('--copy on XFS: sharedBytes 0', async (t) => {
    const dest = path.join(xfs, 'copied');
    t.teardown(() => fs.rmSync(dest, { force: true }));
    const r = run(['--json', '--copy', src, dest]);
    t.equal(r.status, 0, 'exit 0');
    const rep = parseReport(t, r, '--copy');
    if (!rep) return;
    checkSuccess(t, rep, '--copy', { source: src, dest, mode: 'never', totalBytes: SMALL });
    t.equal(rep.bytes?.reflinked, 0, 'nothing reflinked');
    t.equal(rep.bytes?.copyFileRange, 0, 'no copy_file_range (it may share extents on XFS)');
    t.equal((rep.bytes?.sendfile ?? 0) + (rep.bytes?.readWrite ?? 0), SMALL, 'sendfile or read/write moved every byte');
    t.equal(rep.sharedBytes, 0, 'sharedBytes is 0');
    t.equal(sharedBytes(dest), 0, 'filefrag agrees: no shared extents');
  });

  t.test('across filesystems: the fallbacks with their errno', async (t) => {
    const dest = path.join(xfs, 'from-ext4');
    t.teardown(() => fs.rmSync(dest, { force: true }));
    const r = run(['--json', ext4Src, dest]);
    t.equal(r.status, 0, 'exit 0');
    const rep = parseReport(t, r, 'ext4 -> xfs');
    if (!rep) return;
    checkSuccess(t, rep, 'ext4 -> xfs', { source: ext4Src, dest, mode: 'auto', totalBytes: SMALL });
    t.match(rep.fallbacks[0], { from: 'reflink', errno: 'EXDEV' }, `reflink refused with EXDEV: ${JSON.stringify(rep.fallbacks)}`);
    t.equal(rep.bytes?.reflinked, 0, 'nothing reflinked');
    t.equal(rep.sharedBytes, 0, 'nothing shared across filesystems');
    t.equal(sha256(dest), sha256(ext4Src), 'DEST has SOURCE bytes');
  });

  t.test('a range, and a directory DEST', async (t) => {
    const dest = path.join(xfs, 'range');
    t.teardown(() => fs.rmSync(dest, { force: true }));
    const r = run(['--json', '-s', '4K', '-d', '8K', '-l', '64K', src, dest]);
    t.equal(r.status, 0, 'range: exit 0');
    const rep = parseReport(t, r, 'range');
    if (rep) {
      checkSuccess(t, rep, 'range', { source: src, dest, mode: 'auto', totalBytes: 64 * K });
      t.same(rep.range, { srcOffset: 4 * K, dstOffset: 8 * K, length: 64 * K }, 'range as copied');
    }

    const dir = path.join(xfs, 'into');
    fs.mkdirSync(dir);
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const d = run(['--json', src, dir]);
    t.equal(d.status, 0, 'directory: exit 0');
    const drep = parseReport(t, d, 'directory DEST');
    if (drep) t.equal(drep.dest, path.join(dir, 'src'), 'dest is DIRECTORY/basename(SOURCE)');
  });

  t.test('failures: the error with its errno, exitCode the exit status', async (t) => {
    const cases: [string, string[], { status: number; kind: string; code: RegExp | null }][] = [
      ['missing SOURCE', [path.join(scratch, 'missing'), path.join(scratch, 'out')], { status: 1, kind: 'system', code: /^ENOENT$/ }],
      ['--reflink=always on ext4', ['--reflink=always', ext4Src, path.join(ext4, 'clone')], { status: 1, kind: 'system', code: /^EOPNOTSUPP$/ }],
      ['--reflink=always across filesystems', ['--reflink=always', ext4Src, path.join(xfs, 'clone')], { status: 1, kind: 'system', code: /^EXDEV$/ }],
      ['unknown option', ['--bogus', src, path.join(xfs, 'never')], { status: 2, kind: 'usage', code: null }],
      ['one operand', [src], { status: 2, kind: 'usage', code: null }],
      ['--copy --reflink=always', ['--copy', '--reflink=always', src, path.join(xfs, 'never')], { status: 2, kind: 'usage', code: null }],
      ['-l 4X', ['-l', '4X', src, path.join(xfs, 'never')], { status: 2, kind: 'usage', code: null }],
    ];
    for (const [what, args, expect] of cases) {
      for (const json of [['--json', ...args], [...args, '--json']]) {
        const label = `${what} (${json[0] === '--json' ? '--json first' : '--json last'})`;
        const r = run(json);
        t.equal(r.status, expect.status, `${label}: exit ${expect.status}`);
        const rep = parseReport(t, r, label);
        if (!rep) continue;
        t.equal(rep.ok, false, `${label}: ok: false`);
        checkFailure(t, rep, label, { exitCode: expect.status, kind: expect.kind, code: expect.code });
      }
    }
    t.notOk(fs.existsSync(path.join(xfs, 'never')), 'usage errors wrote nothing');
  });

  t.test('--dedupe with different contents: exit 3 and exitCode 3', async (t) => {
    const a = path.join(xfs, 'a');
    const b = path.join(xfs, 'b');
    writeRandom(a, MiB);
    writeRandom(b, MiB);
    t.teardown(() => {
      fs.rmSync(a, { force: true });
      fs.rmSync(b, { force: true });
    });
    const before = sha256(b);
    const r = run(['--json', '--dedupe', a, b]);
    t.equal(r.status, 3, 'exit 3');
    const rep = parseReport(t, r, '--dedupe differs');
    if (rep) {
      checkFailure(t, rep, '--dedupe differs', { exitCode: 3, kind: 'differs', code: /^E[A-Z0-9]+$/ });
      // Two random files: every block differs, nothing is shared, most bytes differ.
      t.equal(rep.totalBytes, MiB, '--dedupe differs: totalBytes');
      t.equal(rep.bytes?.deduplicated, 0, '--dedupe differs: nothing deduplicated');
      t.equal(rep.sharedBytes, 0, '--dedupe differs: nothing shared');
      const ranges = rep.differingRanges as { offset: number; length: number }[];
      t.ok(Number(rep.differingBytes) > MiB * 0.99, `--dedupe differs: about every byte differs (${rep.differingBytes})`);
      t.equal(rep.differingRangeCount, ranges.length, '--dedupe differs: all listed (fewer than 10,000)');
      t.equal(ranges.reduce((n, r) => n + r.length, 0), rep.differingBytes, '--dedupe differs: the ranges add up to differingBytes');
    }
    t.equal(sha256(b), before, 'DEST unchanged');
  });

  t.test('FORCE_COLOR=1 and --progress: still only JSON on stdout, no progress anywhere', async (t) => {
    const dest = path.join(xfs, 'streamed');
    t.teardown(() => fs.rmSync(dest, { force: true }));
    const { fifo, bytes } = slowFifo(t, scratch, 'fifo-pipe', 32, 30);
    const r = run(['--json', '--progress', fifo, dest], { FORCE_COLOR: '1' });
    t.equal(r.status, 0, 'exit 0');
    const rep = parseReport(t, r, 'FORCE_COLOR=1 --progress');
    if (rep) {
      checkSuccess(t, rep, 'FORCE_COLOR=1 --progress', { source: fifo, dest, mode: 'auto', totalBytes: bytes });
      t.ok((rep.durationMs ?? 0) > 500, `the copy took long enough for a bar (${rep.durationMs} ms) (precondition)`);
    }
    t.equal(r.stderr, '', 'no progress (or anything) on stderr');
  });

  t.test('on a terminal with FORCE_COLOR=1 and --progress: the terminal gets the JSON only', async (t) => {
    const dest = path.join(xfs, 'streamed-tty');
    t.teardown(() => fs.rmSync(dest, { force: true }));
    const { fifo } = slowFifo(t, scratch, 'fifo-tty', 32, 30);
    const cmd = `exec ${['env', '-u', 'NODE_OPTIONS', process.execPath, BIN, '--json', '--progress', fifo, dest].map((s) => `'${s}'`).join(' ')}`;
    const r = spawnSync('script', ['-q', '-e', '-c', cmd, '/dev/null'], {
      encoding: 'utf8',
      env: cleanEnv({ FORCE_COLOR: '1', SHELL: '/bin/sh', TERM: 'xterm-256color' }),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
    t.equal(r.status, 0, 'exit 0');
    const out = String(r.stdout).replace(/\r\n/g, '\n');
    const rep = parseReport(t, { status: r.status, stdout: out, stderr: '' }, 'terminal');
    if (rep) t.ok((rep.durationMs ?? 0) > 500, `the copy took long enough for a bar (${rep.durationMs} ms) (precondition)`);
  });

  t.test('SIGINT mid-copy: exit 130, exitCode 130, kind interrupted', async (t) => {
    const dir = path.join(xfs, 'sigint');
    fs.mkdirSync(dir);
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const dest = path.join(dir, 'streamed');
    // About 8 seconds of stream: it is interrupted long before its end.
    const { fifo } = slowFifo(t, scratch, 'fifo-sigint', 200, 40);
    const child = spawn(...tscpArgv(['--json', fifo, dest]), { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    // Interrupt once bytes are flowing into the temporary file.
    const deadline = Date.now() + 60_000;
    const flowing = () => fs.readdirSync(dir).some((n) => n.startsWith('.tscp-') && fs.statSync(path.join(dir, n)).size > 0);
    while (!flowing() && child.exitCode === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    t.equal(child.exitCode, null, 'the copy was still running when interrupted (precondition)');
    child.kill('SIGINT');
    const status = await exited;
    t.equal(status, 130, 'exit 130');
    const rep = parseReport(t, { status, stdout, stderr }, 'SIGINT');
    if (rep) checkFailure(t, rep, 'SIGINT', { exitCode: 130, kind: 'interrupted' });
    t.match(stderr, /^tscp: interrupted by SIGINT/, 'the error line on stderr');
    t.same(fs.readdirSync(dir), [], 'no DEST, no temporary file');
  });

  t.test('-v claims sharing only where FIEMAP measured it', async (t) => {
    const reflinked = path.join(xfs, 'v-reflinked');
    const copied = path.join(xfs, 'v-copied');
    const cross = path.join(xfs, 'v-cross');
    t.teardown(() => {
      for (const f of [reflinked, copied, cross]) fs.rmSync(f, { force: true });
    });
    const r = run(['-v', src, reflinked]);
    t.equal(r.status, 0, 'reflink: exit 0');
    t.match(r.stdout, /8\.0 MiB shared with SOURCE/, `after a reflink on XFS: "shared with SOURCE": ${r.stdout.trim()}`);
    const c = run(['-v', '--copy', src, copied]);
    t.equal(c.status, 0, '--copy: exit 0');
    t.notMatch(c.stdout, /shared with SOURCE/, `after --copy on XFS no sharing is claimed: ${c.stdout.trim()}`);
    const x = run(['-v', ext4Src, cross]);
    t.equal(x.status, 0, 'across filesystems: exit 0');
    t.notMatch(x.stdout, /shared with SOURCE/, `across filesystems no sharing is claimed: ${x.stdout.trim()}`);
  });
}
