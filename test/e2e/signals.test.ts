/**
 * SIGINT, SIGTERM and SIGHUP in the middle of a multi-gigabyte copy.
 *
 * SOURCE is a 3 GiB file of incompressible data on tmpfs; DEST is on a loop-mounted XFS,
 * so every copy is a real data copy across filesystems (reflink and copy_file_range say
 * EXDEV, sendfile moves the bytes) that runs for seconds, not a metadata-only reflink.
 *
 * Each case is deterministic: tscp is spawned asynchronously, the test polls until the copy
 * is observably under way (the temporary file, or DEST for in-place writes, has more than
 * UNDER_WAY bytes allocated), checks that tscp is still running, and only then sends the
 * signal. No bare sleeps. What is checked:
 *
 *   whole file   exit 128+N (130/143/129) within half a second of the signal, one stderr
 *                line `tscp: interrupted by SIG... after N bytes ...`, the temporary file
 *                gone, an existing DEST byte-for-byte (and inode, mode) as it was, a new
 *                DEST never created, SOURCE unchanged
 *   range        exit 130, the message says N bytes were written into DEST, DEST[d, d+N)
 *                equals SOURCE[s, s+N) and every other byte of DEST is as it was
 *   --inplace    exit 143, N bytes written, DEST keeps its inode and hard link, DEST[0, N)
 *                equals SOURCE[0, N)
 *
 * A copy blocked in a system call (SOURCE a FIFO with no writer, or whose writer sends
 * nothing; a hung network filesystem would be the same) must stop as promptly. The test
 * waits until a thread of tscp is observably blocked on the FIFO (its /proc wchan), checks
 * that it is not the main thread (which must stay free to handle signals), then signals:
 *
 *   blocked      the shell's status 128+N within half a second, no `.tscp-*` file left, a
 *                new DEST never created, an existing DEST byte-for-byte as it was; --json
 *                still prints its document, with exitCode 128+N
 *   range        a range copy from a FIFO fails at once with EINVAL (exit 1), writer or not
 *
 * tscp children run without tap's coverage/processinfo hooks (NODE_OPTIONS removed), so
 * the measured time from kill() to exit is tscp's own, not the time spent writing
 * coverage data at exit.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, mountFs, scratchDir, sha256, writeRandom, allocated, tempAllocated, temps } from '../helpers/fs.js';

const M = 1024 * 1024;
const G = 1024 * M;
const BIG = 3 * G;
/** The copy counts as under way once this much has been allocated in what it writes. */
const UNDER_WAY = 64 * M;
/** How long after the signal tscp may take to exit, for whole-file copies. */
const STOP_WITHIN_MS = 500;

// ---------------------------------------------------------------------------------------
// Helpers

/** The environment without tap's coverage variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  for (const k of Object.keys(env)) {
    if (k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_')) delete env[k];
  }
  return env;
}

interface Done {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** performance.now() when the 'exit' event arrived. */
  endedAt: number;
}

interface Running {
  child: ChildProcess;
  done: Promise<Done>;
  exited(): boolean;
}

/** Spawn bin/tscp.js asynchronously; SIGKILLed at teardown if still alive. */
function start(t: Test, args: string[]): Running {
  // Through env(1): tap's processinfo hook adds its loader to the NODE_OPTIONS of every
  // child it sees spawned, even with an explicit env; env -u drops it and execs node in
  // the same process, so the signals reach node itself.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited = false;
  const done = new Promise<Done>((resolve) => {
    child.on('exit', (status, signal) => {
      exited = true;
      const endedAt = performance.now();
      // Let the pipes drain before handing the output over.
      child.on('close', () => resolve({ status, signal, stdout, stderr, endedAt }));
    });
  });
  t.teardown(() => {
    if (!exited) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  return { child, done, exited: () => exited };
}

/** Poll `pred` every 2 ms until it is true (returns true) or `timeoutMs` passes (false). */
async function waitFor(pred: () => boolean, timeoutMs = 120_000): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return pred();
}



interface Snapshot {
  sha: string;
  size: number;
  ino: bigint;
  mode: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

function snapshot(file: string, sha?: string): Snapshot {
  const st = fs.statSync(file, { bigint: true });
  return { sha: sha ?? sha256(file), size: Number(st.size), ino: st.ino, mode: Number(st.mode), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const SIGNALS: [NodeJS.Signals, number][] = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
];

/** A log of what was observed, printed at the end. */
const log: string[] = [];

// ---------------------------------------------------------------------------------------
// A copy blocked in a system call: SOURCE a FIFO

/** The exit status a shell reports: the code, or 128 + the number of the signal that killed it. */
function shellStatus(r: Done): number | null {
  if (r.signal) return 128 + os.constants.signals[r.signal];
  return r.status;
}

/** Threads of `pid` whose kernel wait channel matches `wchan` (wait_for_partner: opening a FIFO). */
function blockedThreads(pid: number, wchan: RegExp): number[] {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tids.map(Number).filter((tid) => {
    try {
      return wchan.test(fs.readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8'));
    } catch {
      return false;
    }
  });
}

/** A writer that opens `fifo` and sends nothing until killed (at teardown). */
function silentWriter(t: Test, fifo: string): void {
  const writer = spawn('sh', ['-c', 'exec sleep 600 > "$1"', 'sh', fifo], { stdio: 'ignore' });
  t.teardown(() => void writer.kill('SIGKILL'));
}

/** `run` done, or null after `ms` (tscp did not exit). */
async function doneWithin(run: Running, ms: number): Promise<Done | null> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([run.done, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  clearTimeout(timer);
  return r;
}

const OPENING = /wait_for_partner|fifo_open/;
const READING = /pipe_read|pipe_wait/;

t.test('SOURCE a FIFO: signals end tscp while a system call blocks', async (t) => {
  const base = scratchDir(t);
  const cases = [
    { what: 'no writer, new DEST', writer: false, existing: false, json: false },
    { what: 'a writer that sends nothing, new DEST', writer: true, existing: false, json: false },
    { what: 'a writer that sends nothing, existing DEST', writer: true, existing: true, json: false },
    { what: 'no writer, existing DEST', writer: false, existing: true, json: false },
    { what: 'a writer that sends nothing, --json', writer: true, existing: true, json: true },
  ];
  for (const c of cases) {
    for (const [sig, code] of SIGNALS) {
      await t.test(`${c.what}: ${sig}`, async (t) => {
        const dir = fs.mkdtempSync(path.join(base, 'case-'));
        const fifo = path.join(dir, 'p');
        fs.mkdirSync(path.join(dir, 'out'));
        const outDir = path.join(dir, 'out');
        const dest = path.join(outDir, 'dest');
        execFileSync('mkfifo', [fifo]);
        if (c.existing) {
          writeRandom(dest, 64 * 1024 + 5);
          fs.chmodSync(dest, 0o640);
        }
        const before = c.existing ? snapshot(dest) : null;
        if (c.writer) silentWriter(t, fifo);
        const run = start(t, [...(c.json ? ['--json'] : []), fifo, dest]);
        const pid = run.child.pid!;
        const wchan = c.writer ? READING : OPENING;
        // Blocked for good: a thread waits on the FIFO (and with a writer, DEST's temporary file exists).
        const blocked = await waitFor(() => run.exited() || (blockedThreads(pid, wchan).length > 0 && (!c.writer || temps(outDir).length > 0)), 30_000);
        t.ok(blocked && !run.exited(), `tscp is blocked on the FIFO (${c.writer ? 'read' : 'open'})`);
        if (run.exited()) return;
        const threads = blockedThreads(pid, wchan);
        t.notOk(threads.includes(pid), `the blocked thread is not the main thread (blocked: ${threads.join(', ')}; main ${pid})`);
        const killedAt = performance.now();
        run.child.kill(sig);
        const r = await doneWithin(run, 10_000);
        t.ok(r, 'tscp exited');
        if (!r) return;
        const ms = r.endedAt - killedAt;
        log.push(`FIFO, ${c.what}, ${sig}: status ${r.status} signal ${r.signal} after ${ms.toFixed(0)} ms; ${r.stderr.trim()}`);
        t.equal(shellStatus(r), code, `the shell sees ${code} (128 + ${sig}): status ${r.status}, signal ${r.signal}`);
        t.ok(ms < STOP_WITHIN_MS, `ended within ${STOP_WITHIN_MS} ms of the signal (took ${ms.toFixed(0)} ms)`);
        t.match(
          r.stderr,
          new RegExp(`^tscp: interrupted by ${sig} after 0 bytes of '${escapeRe(fifo)}' -> '${escapeRe(dest)}'; DEST left as it was\n$`),
          `one line on stderr: ${r.stderr.trim()}`,
        );
        t.same(temps(outDir), [], 'no temporary file left');
        if (before) {
          t.same(fs.readdirSync(outDir), ['dest'], 'nothing but DEST in its directory');
          t.same(snapshot(dest), before, 'DEST has its old content, inode, mode and times');
        } else {
          t.same(fs.readdirSync(outDir), [], 'DEST was not created');
        }
        if (c.json) {
          let doc: { ok?: boolean; exitCode?: number; source?: string; dest?: string; error?: { kind?: string; bytesCopied?: number } } | undefined;
          try {
            doc = JSON.parse(r.stdout);
          } catch (err) {
            t.fail(`stdout is one JSON document (${(err as Error).message}): ${r.stdout}`);
          }
          t.match(doc, { ok: false, exitCode: code, source: fifo, dest, error: { kind: 'interrupted', bytesCopied: 0 } }, `--json reports exitCode ${code}`);
        } else {
          t.equal(r.stdout, '', 'nothing on stdout');
        }
      });
    }
  }
});

t.test('a range copy from a FIFO fails at once with EINVAL', async (t) => {
  const dir = scratchDir(t);
  const fifo = path.join(dir, 'p');
  execFileSync('mkfifo', [fifo]);
  const dest = path.join(dir, 'out');
  for (const [what, args] of [
    ['-s 0 -l 10', ['-s', '0', '-l', '10']],
    ['-d 5', ['-d', '5']],
    ['-l 1', ['-l', '1']],
  ] as const) {
    for (const writer of [false, true]) {
      const label = `${what}${writer ? ', a writer that sends nothing' : ', no writer'}`;
      await t.test(label, async (t) => {
        if (writer) silentWriter(t, fifo);
        const run = start(t, [...args, fifo, dest]);
        const startedAt = performance.now();
        const r = await doneWithin(run, 10_000);
        t.ok(r, 'tscp did not wait for the FIFO');
        if (!r) return;
        log.push(`FIFO range ${label}: status ${r.status} after ${(r.endedAt - startedAt).toFixed(0)} ms; ${r.stderr.trim()}`);
        t.equal(r.status, 1, 'exit 1');
        t.equal(r.stderr, `tscp: cannot copy '${fifo}' to '${dest}': a byte range needs SOURCE to be a regular file (EINVAL)\n`, 'one line naming both paths, with EINVAL');
        t.notOk(fs.existsSync(dest), 'DEST was not created');
        t.same(temps(dir), [], 'no temporary file');
      });
    }
  }
});

// ---------------------------------------------------------------------------------------
// Setup: 3 GiB SOURCE on tmpfs, DEST directory on XFS

const mem = mountFs(t, 'tmpfs', 3 * 1024 + 64);
const xfs = mountFs(t, 'xfs', 4096);

if (mem && xfs) {
  const src = path.join(mem, 'big.src');
  // 64 MiB of random data, repeated with each 64 MiB block's index stamped at its start:
  // incompressible, no two blocks equal, and written at memory speed.
  let srcSha = '';
  {
    const block = randomBytes(64 * M);
    const h = createHash('sha256');
    const fd = fs.openSync(src, 'w');
    for (let i = 0; i < BIG / block.length; i++) {
      block.writeUInt32LE(i, 0);
      fs.writeSync(fd, block);
      h.update(block);
    }
    fs.closeSync(fd);
    srcSha = h.digest('hex');
  }
  const srcBefore = snapshot(src, srcSha);

  const caseDir = (label: string): string => fs.mkdtempSync(path.join(xfs, `${label}-`));

  for (const [sig, code] of SIGNALS) {
    t.test(`${sig} during a 3 GiB whole-file copy over an existing DEST`, async (t) => {
      const dir = caseDir(sig);
      const dest = path.join(dir, 'dest');
      writeRandom(dest, M + 123);
      fs.chmodSync(dest, 0o640);
      const before = snapshot(dest);
      const run = start(t, [src, dest]);
      const underWay = await waitFor(() => run.exited() || tempAllocated(dir) > UNDER_WAY);
      t.ok(underWay, 'the copy got under way');
      t.notOk(run.exited(), 'tscp is still copying when the signal is sent');
      if (run.exited()) {
        t.comment(`finished before the signal: ${JSON.stringify(await run.done)}`);
        return;
      }
      const [tempName] = temps(dir);
      t.ok(tempName && /^\.tscp-[0-9a-f]{12}-dest$/.test(tempName), `temporary file named .tscp-<12 hex>-dest: ${tempName}`);
      const tempMode = fs.statSync(path.join(dir, tempName!)).mode & 0o7777;
      t.equal(tempMode, 0o600, 'the temporary file is 0600 while the copy is in progress');
      const seen = tempAllocated(dir);
      const killedAt = performance.now();
      run.child.kill(sig);
      const r = await run.done;
      const ms = r.endedAt - killedAt;
      log.push(`${sig} whole file: exit ${r.status} after ${ms.toFixed(0)} ms; ${(seen / M).toFixed(0)} MiB allocated at the signal; ${r.stderr.trim()}`);
      t.equal(r.signal, null, 'tscp handled the signal itself (not killed by it)');
      t.equal(r.status, code, `exit ${code} (128 + ${sig})`);
      t.ok(ms < STOP_WITHIN_MS, `stopped within ${STOP_WITHIN_MS} ms of the signal (took ${ms.toFixed(0)} ms)`);
      t.match(
        r.stderr,
        new RegExp(`^tscp: interrupted by ${sig} after \\d+ bytes of '${escapeRe(src)}' -> '${escapeRe(dest)}'; DEST left as it was\\n$`),
        `one line on stderr: ${r.stderr.trim()}`,
      );
      const n = Number(/after (\d+) bytes/.exec(r.stderr)?.[1] ?? -1);
      t.ok(n > 0 && n < BIG, `a partial byte count is reported (${n})`);
      t.same(temps(dir), [], 'the temporary file was removed');
      t.same(fs.readdirSync(dir), ['dest'], 'nothing else in the directory');
      t.same(snapshot(dest), before, 'DEST has exactly its old content, inode, mode and times');
      t.equal(r.stdout, '', 'nothing on stdout');
    });
  }

  t.test('SIGINT during a 3 GiB whole-file copy to a new DEST: DEST never appears', async (t) => {
    const dir = caseDir('new');
    const dest = path.join(dir, 'dest');
    const run = start(t, ['--copy', src, dest]);
    t.ok(await waitFor(() => run.exited() || tempAllocated(dir) > UNDER_WAY), 'the copy got under way');
    t.notOk(run.exited(), 'tscp is still copying when the signal is sent');
    if (run.exited()) return;
    t.notOk(fs.existsSync(dest), 'no partial file under DEST\'s name while copying');
    const killedAt = performance.now();
    run.child.kill('SIGINT');
    const r = await run.done;
    const ms = r.endedAt - killedAt;
    log.push(`SIGINT whole file, new DEST (--copy): exit ${r.status} after ${ms.toFixed(0)} ms; ${r.stderr.trim()}`);
    t.equal(r.status, 130, 'exit 130');
    t.ok(ms < STOP_WITHIN_MS, `stopped within ${STOP_WITHIN_MS} ms of the signal (took ${ms.toFixed(0)} ms)`);
    t.match(r.stderr, /^tscp: interrupted by SIGINT after \d+ bytes of .*; DEST left as it was\n$/, `message: ${r.stderr.trim()}`);
    t.same(fs.readdirSync(dir), [], 'neither DEST nor the temporary file exists');
  });

  t.test('SIGINT during a range copy: the bytes written are reported and exactly those landed', async (t) => {
    const dir = caseDir('range');
    const dest = path.join(dir, 'dest');
    const oldSize = 2 * M;
    writeRandom(dest, oldSize);
    const old = fs.readFileSync(dest);
    const s = 4096 + 7;
    const d = M + 512;
    const l = BIG - s;
    const run = start(t, ['-s', String(s), '-d', String(d), '-l', String(l), src, dest]);
    t.ok(await waitFor(() => run.exited() || allocated(dest) > UNDER_WAY), 'the copy got under way');
    t.notOk(run.exited(), 'tscp is still copying when the signal is sent');
    if (run.exited()) return;
    const killedAt = performance.now();
    run.child.kill('SIGINT');
    const r = await run.done;
    const ms = r.endedAt - killedAt;
    log.push(`SIGINT range: exit ${r.status} after ${ms.toFixed(0)} ms; ${r.stderr.trim()}`);
    t.equal(r.status, 130, 'exit 130');
    t.match(
      r.stderr,
      new RegExp(`^tscp: interrupted by SIGINT after (\\d+) bytes of '${escapeRe(src)}' -> '${escapeRe(dest)}'; \\1 bytes were written into DEST\\n$`),
      `the message says how many bytes were written: ${r.stderr.trim()}`,
    );
    const n = Number(/after (\d+) bytes/.exec(r.stderr)?.[1] ?? -1);
    t.ok(n > 0 && n < l, `a partial count (${n} of ${l})`);
    t.ok(ms < 2000, `stopped promptly (${ms.toFixed(0)} ms)`);
    t.same(temps(dir), [], 'no temporary file (ranges write in place)');
    if (n > 0) {
      const size = fs.statSync(dest).size;
      t.equal(size, Math.max(oldSize, d + n), `DEST is ${Math.max(oldSize, d + n)} bytes: its old size or d + N`);
      t.equal(sha256(dest, 0, d), createHash('sha256').update(old.subarray(0, d)).digest('hex'), 'DEST[0, d) unchanged');
      t.equal(sha256(dest, d, d + n), sha256(src, s, s + n), 'DEST[d, d+N) equals SOURCE[s, s+N)');
      if (size > d + n) t.equal(sha256(dest, d + n, size), createHash('sha256').update(old.subarray(d + n)).digest('hex'), 'the rest of DEST unchanged');
    }
  });

  t.test('SIGTERM during an --inplace copy: the bytes written are reported, the inode and hard link stay', async (t) => {
    const dir = caseDir('inplace');
    const dest = path.join(dir, 'dest');
    const link = path.join(dir, 'link');
    writeRandom(dest, M);
    fs.linkSync(dest, link);
    const ino = fs.statSync(dest).ino;
    const run = start(t, ['--inplace', src, dest]);
    t.ok(await waitFor(() => run.exited() || allocated(dest) > UNDER_WAY), 'the copy got under way');
    t.notOk(run.exited(), 'tscp is still copying when the signal is sent');
    if (run.exited()) return;
    const killedAt = performance.now();
    run.child.kill('SIGTERM');
    const r = await run.done;
    const ms = r.endedAt - killedAt;
    log.push(`SIGTERM --inplace: exit ${r.status} after ${ms.toFixed(0)} ms; ${r.stderr.trim()}`);
    t.equal(r.status, 143, 'exit 143');
    t.match(
      r.stderr,
      new RegExp(`^tscp: interrupted by SIGTERM after (\\d+) bytes of '${escapeRe(src)}' -> '${escapeRe(dest)}'; \\1 bytes were written into DEST\\n$`),
      `the message says how many bytes were written: ${r.stderr.trim()}`,
    );
    const n = Number(/after (\d+) bytes/.exec(r.stderr)?.[1] ?? -1);
    t.ok(n > 0 && n < BIG, `a partial count (${n})`);
    // XFS (like ext4) starts writeback when a file that was truncated is closed, so the
    // exit can take longer than for a temporary file; a hang is what this catches.
    t.ok(ms < 2000, `stopped promptly (${ms.toFixed(0)} ms)`);
    t.equal(fs.statSync(dest).ino, ino, 'DEST keeps its inode');
    t.equal(fs.statSync(link).ino, ino, 'the hard link still shares it');
    t.same(temps(dir), [], 'no temporary file');
    if (n > 0) t.equal(sha256(dest, 0, n), sha256(src, 0, n), 'DEST[0, N) equals SOURCE[0, N)');
  });

  t.test('SOURCE was never modified', async (t) => {
    t.same(snapshot(src), srcBefore, 'SOURCE: same bytes (sha256 of all 3 GiB), inode, mode and times');
  });

  t.test('what was observed', async (t) => {
    for (const line of log) t.comment(line);
    t.pass(`${log.length} interrupted copies`);
  });
}
