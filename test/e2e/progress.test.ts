/**
 * The progress bar and colour on real terminals, end to end.
 *
 * Terminals are real pseudo-terminals: tmux panes (a fixed 160x12 screen, read back with
 * capture-pane) and script(1) (the raw bytes tscp wrote, with script's timing log saying
 * when each arrived). The copies that must be slow enough for a bar are 2 GiB across
 * filesystems (ext4 -> XFS, sendfile). From the page cache that can take under half a
 * second, so SOURCE is dropped from the cache before each copy and tscp runs in a blkio
 * cgroup that throttles reads of the ext4 loop device to 1 GiB/s: every such copy takes
 * two seconds or more, on any machine. Every wait is a poll on an observable state (the
 * screen, a status file, /proc) with a deadline, never a bare sleep.
 *
 * What is checked: the bar appears only on a terminal (or with --progress), never in a
 * pipe or a file, never for an instant copy, never with -q or --no-progress; it shows the
 * method, bytes done/total, percent, rate and ETA and redraws several times a second for the
 * whole copy; Ctrl-C stops the copy at once with status 130; on success the bar is wiped, on
 * error only the 'tscp:' line is left; closing the terminal mid-copy still removes the
 * temporary file; colour only on a terminal, with NO_COLOR and FORCE_COLOR honoured; in a
 * terminal of 50 columns the line fits (the bar dropped, every figure whole) and a resize to
 * 44 columns is followed; with --fsync a "syncing" stage with its ETA is drawn while the
 * data is flushed.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, mountFs, scratchDir, writeRandom } from '../helpers/fs.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const BIG = 2 * GiB;
/** Reads of SOURCE's filesystem are throttled to this for every tscp run here. */
const READ_BPS = 1 * GiB;
/** tscp's promise: no bar before the copy has run this long (src/cli/progress.ts). */
const PROGRESS_DELAY_MS = 250;

const ESC = '\x1b';
/** Any SGR (colour/attribute) sequence. */
const SGR = /\x1b\[[0-9;]*m/;
/** Anything that can only come from the bar. */
const BAR_TRACE = /[█░]|\d+%|ETA \d|ETA --|in-kernel|read\/write|\d(?:\.\d+)? (?:B|KiB|MiB|GiB)\/s/;
const SIZE = String.raw`\d+(?:\.\d+)? (?:B|KiB|MiB|GiB|TiB)`;
/** A whole bar line for a known total: method, bar, percent, done/total, rate, ETA. */
const BAR_LINE = new RegExp(String.raw`(reflink|in-kernel|read/write)\s+[█░]+\s+(\d+)%\s+(${SIZE})/(${SIZE})\s+(${SIZE})/s\s+ETA (\d\d:\d\d|--:--)`);

/** The test process's environment without tap's colour settings (see inThrottle for NODE_OPTIONS). */
function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'FORCE_COLOR' || k === 'NO_COLOR' || k.startsWith('TAP')) continue;
    env[k] = v;
  }
  env.TERM = 'xterm-256color';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Poll `probe` every `everyMs` until it returns a value other than undefined, or throw at the deadline. */
async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A big file of real data (no holes), fast: one random buffer written over and over. */
function writeBig(file: string, size: number): void {
  const buf = randomBytes(8 * MiB);
  const fd = fs.openSync(file, 'w');
  for (let off = 0; off < size; off += buf.length) fs.writeSync(fd, buf, 0, Math.min(buf.length, size - off));
  fs.closeSync(fd);
}

function syncFs(dir: string): void {
  spawnSync('sync', ['-f', dir]);
}

/** Empty `dir` (leftovers of a failed test must not fill the filesystem for the next). */
function emptyDir(dir: string): void {
  for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  syncFs(dir);
}

/** Drop `file` from the page cache (it must be clean), so the next copy reads the device. */
function dropCache(file: string): void {
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  if (r.status !== 0) throw new Error(`dd iflag=nocache ${file}: ${r.stderr}`);
}

/**
 * A cgroup whose reads of one block device are throttled (cgroup v1 blkio, else v2 io.max).
 * `wrap(argv)` runs argv inside it. Without either (no root, no controller) argv runs as is,
 * and the tests' own preconditions say so if a copy then ends too soon.
 */
class ReadThrottle {
  private readonly procs: string | null;

  constructor(t: Test, mountPoint: string, bps: number) {
    const majmin = spawnSync('findmnt', ['-n', '-o', 'MAJ:MIN', '--target', mountPoint], { encoding: 'utf8' }).stdout.trim();
    const name = `tscp-progress-${process.pid}`;
    let dir: string | null = null;
    try {
      if (fs.existsSync('/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device')) {
        dir = path.join('/sys/fs/cgroup/blkio', name);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, 'blkio.throttle.read_bps_device'), `${majmin} ${bps}`);
      } else if (fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('io')) {
        fs.writeFileSync('/sys/fs/cgroup/cgroup.subtree_control', '+io');
        dir = path.join('/sys/fs/cgroup', name);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, 'io.max'), `${majmin} rbps=${bps}`);
      }
    } catch (err) {
      t.comment(`cannot throttle reads (${(err as Error).message}): copies may be too fast to watch`);
      if (dir) fs.rmSync(dir, { recursive: false, force: true });
      dir = null;
    }
    this.procs = dir && path.join(dir, 'cgroup.procs');
    if (dir) {
      const cg = dir;
      t.teardown(async () => {
        // Its processes are gone or going (tmux is stopped before this runs).
        const deadline = Date.now() + 10_000;
        for (;;) {
          try {
            fs.rmdirSync(cg);
            return;
          } catch (err) {
            if (Date.now() > deadline) throw err;
            await sleep(50);
          }
        }
      });
    }
  }

  /** argv, run inside the throttled cgroup. */
  wrap(argv: string[]): string[] {
    if (!this.procs) return argv;
    return ['sh', '-c', `echo $$ > ${shq(this.procs)} && exec "$@"`, 'sh', ...argv];
  }
}

let throttle: ReadThrottle | undefined;
/**
 * argv as every tscp (or wrapper) here is run: inside the throttled cgroup, and without
 * NODE_OPTIONS. tap's process tracker puts its loader into NODE_OPTIONS of every child it
 * spawns, and that loader installs signal handlers (signal-exit): the signal and terminal
 * tests must see tscp's own behaviour, as a user's shell would run it.
 */
const inThrottle = (argv: string[]) => throttle?.wrap(['env', '-u', 'NODE_OPTIONS', ...argv]) ?? ['env', '-u', 'NODE_OPTIONS', ...argv];

function tempFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith('.tscp-'));
}

interface PipeRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** tscp with stdout and stderr piped (stderr to `stderrFd` when given). */
function runPiped(args: string[], env: Record<string, string | undefined> = {}, stderrFd?: number): PipeRun {
  const start = performance.now();
  const [cmd, ...argv] = inThrottle([process.execPath, BIN, ...args]);
  const r = spawnSync(cmd!, argv, {
    encoding: 'utf8',
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', stderrFd ?? 'pipe'],
    timeout: 180_000,
  });
  return { status: r.status, signal: r.signal, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), ms: performance.now() - start };
}

interface TtyRun {
  status: number | null;
  /** Everything tscp wrote to the terminal, byte for byte (latin1, so offsets are bytes). */
  raw: string;
  /** [seconds since start, byte offset where the chunk starts, its length] per chunk written. */
  chunks: { at: number; offset: number; length: number }[];
}

/** tscp on a pseudo-terminal under script(1): stdout and stderr are both the terminal. */
function runTty(dir: string, args: string[], env: Record<string, string | undefined> = {}): TtyRun {
  const timing = fs.mkdtempSync(path.join(dir, 'timing-'));
  const timingFile = path.join(timing, 'log');
  const cmd = `exec ${inThrottle([process.execPath, BIN, ...args]).map(shq).join(' ')}`;
  const r = spawnSync('script', ['-q', '-e', '-T', timingFile, '-c', cmd, '/dev/null'], {
    env: cleanEnv({ SHELL: '/bin/sh', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 180_000,
  });
  const out = r.stdout as Buffer;
  const chunks: TtyRun['chunks'] = [];
  let at = 0;
  let offset = 0;
  for (const line of fs.readFileSync(timingFile, 'utf8').split('\n')) {
    const m = /^(\d+(?:\.\d+)?) (\d+)$/.exec(line.trim());
    if (!m) continue;
    at += Number(m[1]);
    chunks.push({ at, offset, length: Number(m[2]) });
    offset += Number(m[2]);
  }
  if (offset !== out.length) throw new Error(`script's timing log covers ${offset} bytes, its output has ${out.length}`);
  return { status: r.status, raw: out.toString('latin1'), chunks };
}

/** When (seconds since start) the byte at `offset` reached the terminal. */
function timeOf(run: TtyRun, offset: number): number {
  for (const c of run.chunks) if (offset < c.offset + c.length) return c.at;
  return run.chunks.at(-1)?.at ?? 0;
}

/** Remove ANSI sequences (CSI and the two-byte ESC 7 / ESC 8). */
function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[78]/g, '');
}

/**
 * tmux panes on a private server. tscp runs under a small wrapper so the pane outlives it:
 * the wrapper records tscp's pid and exit status in files, then prints an end marker, so
 * "the marker is on the screen" means "everything tscp wrote has been drawn".
 */
const END_MARKER = '[[tscp ended]]';
const WRAPPER = `
import { spawn } from 'node:child_process';
import fs from 'node:fs';
const [statusFile, ...args] = process.argv.slice(2);
// Like a shell running tscp as its foreground job: Ctrl-C reaches the whole foreground
// process group (only tscp should act on it), and a hang-up of the terminal is passed on.
let childDone = false;
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {
  if (childDone) process.exit(0);
  child.kill('SIGHUP');
});
process.stdout.on('error', () => process.exit(0));
const child = spawn(process.execPath, args, { stdio: 'inherit' });
fs.writeFileSync(statusFile + '.pid', String(child.pid));
child.on('exit', (code, signal) => {
  childDone = true;
  fs.writeFileSync(statusFile, JSON.stringify({ code, signal }));
  process.stdout.write('\\n${END_MARKER}');
  setTimeout(() => process.exit(0), 300_000);
});
`;
class Tmux {
  /** A private server: its socket lives in the scratch directory, removed with it. */
  private readonly socket: string;
  private readonly wrapper: string;
  private readonly pidFiles: string[] = [];
  private n = 0;

  constructor(
    t: Test,
    private readonly dir: string,
  ) {
    this.socket = path.join(dir, 'tmux.sock');
    this.wrapper = path.join(dir, 'wrapper.mjs');
    fs.writeFileSync(this.wrapper, WRAPPER);
    t.teardown(() => {
      spawnSync('tmux', ['-S', this.socket, 'kill-server'], { stdio: 'ignore' });
      // A tscp that outlived its pane (a failed test) is ours: stop it by its pid.
      for (const f of this.pidFiles) {
        const pid = Number(fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : NaN);
        if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
      }
    });
  }

  cmd(...args: string[]): string {
    const r = spawnSync('tmux', ['-S', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env: cleanEnv() });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** Run tscp ARGS in a new pane of `columns`x12 (160 unless given) in `cwd`, with `env` added. */
  start(args: string[], cwd: string, env: Record<string, string> = {}, columns = 160): Pane {
    const name = `p${++this.n}`;
    const statusFile = path.join(this.dir, `${name}.status`);
    this.pidFiles.push(`${statusFile}.pid`);
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    this.cmd('new-session', '-d', '-s', name, '-x', String(columns), '-y', '12', '-c', cwd, 'env', ...envArgs, ...inThrottle([process.execPath, this.wrapper, statusFile, BIN, ...args]));
    return new Pane(this, name, statusFile);
  }

  /** Run tscp ARGS as the pane's own process (the terminal's session leader); returns its pid. */
  startDirect(args: string[], cwd: string): { name: string; pid: number } {
    const name = `d${++this.n}`;
    this.cmd('new-session', '-d', '-s', name, '-x', '160', '-y', '12', '-c', cwd, ...inThrottle([process.execPath, BIN, ...args]));
    const pid = Number(this.cmd('display-message', '-p', '-t', name, '#{pane_pid}').trim());
    const pidFile = path.join(this.dir, `${name}.pid`);
    fs.writeFileSync(pidFile, String(pid));
    this.pidFiles.push(pidFile);
    return { name, pid };
  }
}

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

class Pane {
  readonly startedAt = performance.now();
  constructor(
    private readonly tmux: Tmux,
    readonly name: string,
    private readonly statusFile: string,
  ) {}

  /** The visible screen (wrapped lines joined). */
  screen(): string {
    return this.tmux.cmd('capture-pane', '-p', '-J', '-t', this.name);
  }

  /** The visible screen with colour/attribute escapes. */
  screenWithEscapes(): string {
    return this.tmux.cmd('capture-pane', '-p', '-J', '-e', '-t', this.name);
  }

  ended(): boolean {
    return this.screen().includes(END_MARKER);
  }

  status(): { code: number | null; signal: string | null } | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.statusFile, 'utf8')) as { code: number | null; signal: string | null };
    } catch {
      return undefined;
    }
  }

  pid(): number | undefined {
    try {
      return Number(fs.readFileSync(`${this.statusFile}.pid`, 'utf8')) || undefined;
    } catch {
      return undefined;
    }
  }

  keys(...keys: string[]): void {
    this.tmux.cmd('send-keys', '-t', this.name, ...keys);
  }

  kill(): void {
    this.tmux.cmd('kill-session', '-t', this.name);
  }
}

/** Lines of a final screen that are not the end marker and not blank. */
function screenLines(screen: string): string[] {
  return screen
    .split('\n')
    .map((l) => l.replace(END_MARKER, '').trimEnd())
    .filter((l) => l.trim() !== '');
}

/** Watch a pane until tscp ends; returns every bar line seen, with when it was seen. */
async function watch(pane: Pane, timeoutMs = 180_000): Promise<{ at: number; line: string }[]> {
  const seen: { at: number; line: string }[] = [];
  await waitFor(
    'tscp to end',
    () => {
      const screen = pane.screen();
      const at = performance.now() - pane.startedAt;
      for (const line of screen.split('\n')) if (BAR_TRACE.test(line) && !line.startsWith('tscp:')) seen.push({ at, line });
      return screen.includes(END_MARKER) ? true : undefined;
    },
    timeoutMs,
    15,
  );
  return seen;
}

const ext4 = mountFs(t, 'ext4', 2600);
const xfs = ext4 && mountFs(t, 'xfs', 2700);
const tmpfs = xfs && mountFs(t, 'tmpfs', 1500);
if (ext4 && xfs && tmpfs) main(ext4, xfs, tmpfs);

function main(ext4: string, xfs: string, tmpfs: string): void {
  const scratch = scratchDir(t);
  const big = path.join(ext4, 'big');
  writeBig(big, BIG);
  syncFs(ext4);
  const out = path.join(xfs, 'out');
  fs.mkdirSync(out);
  const small = path.join(xfs, 'small');
  writeRandom(small, 64 * MiB);
  const smallExt4 = path.join(ext4, 'small');
  writeRandom(smallExt4, 4 * MiB);
  syncFs(xfs);
  // Before the Tmux: teardowns run last-registered first, so tmux is stopped before rmdir.
  throttle = new ReadThrottle(t, ext4, READ_BPS);
  const tmux = new Tmux(t, scratch);
  /** A fresh start for a 2 GiB copy: an empty DEST directory, SOURCE out of the cache. */
  const fresh = (dir = out) => {
    emptyDir(dir);
    dropCache(big);
  };

  t.test('on a terminal the bar is live: method, bytes, percent, rate, ETA, rising all the way', async (t) => {
    fresh();
    const dest = path.join(out, 'live');
    // NO_COLOR here: the same run checks the bar is drawn without colour when asked.
    const pane = tmux.start([big, dest], out, { NO_COLOR: '1' });
    const escaped: string[] = [];
    const seen: { at: number; line: string }[] = [];
    await waitFor(
      'tscp to end',
      () => {
        const raw = pane.screenWithEscapes();
        const screen = stripAnsi(raw);
        const at = performance.now() - pane.startedAt;
        for (const line of screen.split('\n')) if (BAR_LINE.test(line)) seen.push({ at, line });
        for (const line of raw.split('\n')) if (BAR_TRACE.test(line)) escaped.push(line);
        return screen.includes(END_MARKER) ? true : undefined;
      },
      180_000,
      15,
    );
    const final = pane.screen();
    pane.kill();
    t.same(pane.status(), { code: 0, signal: null }, 'exit 0');
    t.equal(fs.statSync(dest).size, BIG, 'DEST is complete');

    t.ok(seen.length > 0, `a bar was drawn during the ~2 GiB copy (${seen.length} captures)`);
    const first = seen[0];
    if (first) {
      const m = BAR_LINE.exec(first.line)!;
      t.equal(m[1], 'in-kernel', `the method is shown: ${first.line}`);
      t.equal(m[4], '2.0 GiB', 'bytes done / total are shown (total 2.0 GiB)');
      t.match(m[5], new RegExp(SIZE), 'the rate is shown');
      t.match(m[6], /^\d\d:\d\d$/, 'the ETA is shown');
      t.ok(first.at >= PROGRESS_DELAY_MS, `the bar appeared no sooner than ${PROGRESS_DELAY_MS} ms (${Math.round(first.at)} ms)`);
    }
    const percents = seen.map((s) => Number(BAR_LINE.exec(s.line)![2]));
    const distinct = [...new Set(percents)];
    t.ok(distinct.length >= 4, `the percentage rose across captures: ${distinct.join(' ')}`);
    t.ok(percents.every((p, i) => i === 0 || p >= percents[i - 1]!), 'the percentage never goes back');
    const dones = seen.map((s) => BAR_LINE.exec(s.line)![3]!);
    t.ok(new Set(dones).size >= 4, `bytes done rose across captures: ${[...new Set(dones)].join(', ')}`);

    t.ok(escaped.length > 0 && !escaped.some((l) => SGR.test(l)), `NO_COLOR=1: the bar has no colour (${JSON.stringify(escaped.find((l) => SGR.test(l)))})`);
    t.same(screenLines(final), [], `after success the bar line is cleared and nothing else is left:\n${final}`);
  });

  t.test('the bar redraws several times a second for the whole copy, then clears itself', async (t) => {
    fresh();
    const dest = path.join(out, 'redraw');
    const run = runTty(scratch, [big, dest]);
    t.equal(run.status, 0, 'exit 0');
    t.equal(fs.statSync(dest).size, BIG, 'DEST is complete');
    const frames: { at: number; pct: number }[] = [];
    for (const m of run.raw.matchAll(/(\d+)%/g)) frames.push({ at: timeOf(run, m.index!), pct: Number(m[1]) });
    const clear = run.raw.lastIndexOf(`${ESC}[2K`);
    const endAt = clear >= 0 ? timeOf(run, clear) : (run.chunks.at(-1)?.at ?? 0);
    t.ok(frames.length >= 4, `several frames were drawn (${frames.length})`);
    if (frames.length >= 2) {
      const span = endAt - frames[0]!.at;
      const rate = frames.length / Math.max(span, 0.001);
      t.ok(rate >= 4, `at least 4 redraws per second while the bar was up (${rate.toFixed(1)}/s over ${span.toFixed(2)} s)`);
      let maxGap = 0;
      for (let i = 1; i < frames.length; i++) maxGap = Math.max(maxGap, frames[i]!.at - frames[i - 1]!.at);
      maxGap = Math.max(maxGap, endAt - frames.at(-1)!.at);
      t.ok(maxGap <= 0.5, `never more than 500 ms without a redraw, to the end (longest gap ${Math.round(maxGap * 1000)} ms)`);
      t.ok(
        frames.every((f, i) => i === 0 || f.pct >= frames[i - 1]!.pct),
        `percentages only rise: ${frames.map((f) => f.pct).join(' ')}`,
      );
      t.ok(frames[0]!.at * 1000 >= PROGRESS_DELAY_MS, `first frame no sooner than ${PROGRESS_DELAY_MS} ms (${Math.round(frames[0]!.at * 1000)} ms)`);
    }
    t.ok(clear > (frames.length ? run.raw.lastIndexOf('%') : -1), 'the bar line is erased after its last frame');
    const tail = run.raw.slice(clear);
    t.equal(stripAnsi(tail).trim(), '', 'nothing is written after the bar is erased');
    if (run.raw.includes(`${ESC}[?25l`)) t.ok(run.raw.lastIndexOf(`${ESC}[?25h`) > run.raw.lastIndexOf(`${ESC}[?25l`), 'the cursor is shown again');
    if (run.raw.includes(`${ESC}[?7l`)) t.ok(run.raw.lastIndexOf(`${ESC}[?7h`) > run.raw.lastIndexOf(`${ESC}[?7l`), 'line wrapping is turned back on');
  });

  t.test('Ctrl-C mid-copy: exit 130 at once, the error line and no bar left, DEST untouched', async (t) => {
    fresh();
    const dest = path.join(out, 'interrupted');
    const pane = tmux.start([big, dest], out);
    const bar = await waitFor(
      'the bar',
      () => {
        const line = pane.screen().split('\n').find((l) => BAR_LINE.test(l));
        return line ?? (pane.status() ? null : undefined);
      },
      120_000,
      10,
    );
    t.ok(bar, `the bar was up before Ctrl-C: ${bar}`);
    if (!bar) return;
    t.ok(Number(BAR_LINE.exec(bar)![2]) < 100, 'the copy was still running');
    const sent = performance.now();
    pane.keys('C-c');
    const status = await waitFor('tscp to exit after Ctrl-C', () => pane.status(), 30_000, 5);
    const ms = performance.now() - sent;
    await waitFor('the end marker', () => (pane.ended() ? true : undefined), 10_000);
    const final = pane.screen();
    pane.kill();
    t.same(status, { code: 130, signal: null }, 'exit 130');
    t.ok(ms < 1000, `exited ${Math.round(ms)} ms after Ctrl-C (< 1 s)`);
    const lines = screenLines(final);
    t.ok(
      lines.some((l) => /^tscp: interrupted by SIGINT after \d+ bytes/.test(l)),
      `the screen says it was interrupted:\n${final}`,
    );
    t.same(
      lines.filter((l) => !l.startsWith('tscp:') && l.replace('^C', '').trim() !== ''),
      [],
      'no half-drawn bar (or anything else) is left on the screen',
    );
    t.notOk(lines.some((l) => l.startsWith('tscp:') && /[█░]|\d+%/.test(l)), 'the error line is not mixed with the bar');
    t.notOk(fs.existsSync(dest), 'DEST was not created');
    t.same(tempFiles(out), [], 'the temporary file was removed');
  });

  t.test('an error mid-copy (ENOSPC): the bar is wiped and the error line stays', async (t) => {
    const dest = path.join(tmpfs, 'full');
    fresh(tmpfs);
    t.teardown(() => emptyDir(tmpfs));
    const pane = tmux.start([big, dest], tmpfs);
    const seen = await watch(pane);
    const final = pane.screen();
    pane.kill();
    t.ok(seen.some((s) => BAR_LINE.test(s.line)), 'the bar was up before the error (precondition)');
    t.same(pane.status(), { code: 1, signal: null }, 'exit 1');
    const lines = screenLines(final);
    t.ok(
      lines.some((l) => /^tscp: cannot copy .*\(ENOSPC\)/.test(l)),
      `the screen has the tscp: error line:\n${final}`,
    );
    t.same(lines.filter((l) => !l.startsWith('tscp:')), [], 'nothing else is left: no half-drawn bar');
    t.notOk(lines.some((l) => BAR_TRACE.test(l.replace(/^tscp: .*?\(ENOSPC\)/, ''))), 'no bar text on the error line');
    t.notOk(fs.existsSync(dest), 'DEST was not created');
    t.same(tempFiles(tmpfs), [], 'the temporary file was removed');
  });

  t.test('closing the terminal mid-copy: tscp stops, removes its temporary file, does not crash', async (t) => {
    await t.test('under a shell, which passes the hang-up on to its job', async (t) => {
      fresh();
      const dest = path.join(out, 'hangup');
      const pane = tmux.start([big, dest], out);
      const bar = await waitFor(
        'the bar',
        () => pane.screen().split('\n').find((l) => BAR_LINE.test(l)) ?? (pane.status() ? null : undefined),
        120_000,
        10,
      );
      t.ok(bar, 'the bar was up (precondition)');
      if (!bar) return;
      pane.kill(); // the terminal goes away: SIGHUP, and every later write to it fails with EIO
      const gone = performance.now();
      const status = await waitFor('tscp to exit after the hang-up', () => pane.status(), 30_000, 10);
      const ms = performance.now() - gone;
      t.ok(ms < 2000, `tscp exited ${Math.round(ms)} ms after the hang-up`);
      t.ok(
        (status.code === 129 && status.signal === null) || (status.code === null && status.signal === 'SIGHUP'),
        `stopped by SIGHUP (status 129), not a crash: ${JSON.stringify(status)}`,
      );
      t.notOk(fs.existsSync(dest), 'DEST was not created');
      t.same(tempFiles(out), [], 'the temporary file was removed (README: "the temporary file is removed")');
    });

    await t.test("as the terminal's own process, which gets the SIGHUP itself (3 rounds)", async (t) => {
      for (let round = 1; round <= 3; round++) {
        fresh();
        const dest = path.join(out, 'hangup-direct');
        const { name, pid } = tmux.startDirect([big, dest], out);
        const bar = await waitFor(
          'the bar',
          () => tmux.cmd('capture-pane', '-p', '-J', '-t', name).split('\n').find((l) => BAR_LINE.test(l)) ?? (isAlive(pid) ? undefined : null),
          120_000,
          10,
        );
        t.ok(bar, `round ${round}: the bar was up (precondition)`);
        if (!bar) continue;
        tmux.cmd('kill-session', '-t', name);
        const gone = performance.now();
        await waitFor('tscp to exit after the hang-up', () => (isAlive(pid) ? undefined : true), 30_000, 10);
        t.ok(performance.now() - gone < 2000, `round ${round}: tscp exited ${Math.round(performance.now() - gone)} ms after the hang-up`);
        t.notOk(fs.existsSync(dest), `round ${round}: DEST was not created`);
        t.same(tempFiles(out), [], `round ${round}: the temporary file was removed`);
      }
    });
  });

  t.test('a stream (FIFO) shows the read/write method, bytes and rate', async (t) => {
    fresh();
    const fifo = path.join(scratch, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const dest = path.join(out, 'from-fifo');
    const pane = tmux.start([fifo, dest], out);
    // 48 MiB, 1 MiB every 40 ms: about two seconds of a slow stream.
    const writer: ChildProcess = spawn('sh', ['-c', `for i in $(seq 48); do head -c 1048576 /dev/zero; sleep 0.04; done > ${shq(fifo)}`], {
      stdio: 'ignore',
    });
    t.teardown(() => {
      if (writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
    });
    const seen = await watch(pane, 60_000);
    const final = pane.screen();
    pane.kill();
    t.same(pane.status(), { code: 0, signal: null }, 'exit 0');
    t.equal(fs.statSync(dest).size, 48 * MiB, 'DEST has all 48 MiB');
    const line = seen.find((s) => /read\/write/.test(s.line))?.line;
    t.ok(line, `the bar names the read/write method: ${seen[0]?.line}`);
    if (line) {
      t.match(line, new RegExp(String.raw`read/write\s+${SIZE}\s+${SIZE}/s`), 'bytes done and rate, no total for a stream');
      t.notMatch(line, /\d+%|ETA/, 'no percent or ETA without a total');
    }
    t.same(screenLines(final), [], 'the bar is cleared at the end');
  });

  t.test('a narrow terminal: the line fits its width (bar dropped first), and follows a resize', async (t) => {
    fresh();
    const dest = path.join(out, 'narrow');
    const pane = tmux.start([big, dest], out, { NO_COLOR: '1' }, 50);
    // A whole line of figures, nothing cut: percent, done/total, rate, ETA at the end.
    const FIGURES = new RegExp(String.raw`(\d+)%  ${SIZE}/${SIZE}  ${SIZE}/s  ETA (\d\d:\d\d|--:--)$`);
    const lines: { width: number; line: string; at: number }[] = [];
    let resizedAt = 0;
    let resized = false;
    let width = 50;
    await waitFor(
      'tscp to end',
      () => {
        const screen = pane.screen();
        const at = performance.now();
        for (const line of screen.split('\n')) if (BAR_TRACE.test(line) && !line.startsWith('tscp:')) lines.push({ width, line: line.trimEnd(), at });
        // Once several different lines were seen at 50 columns (the screen is captured every
        // 15 ms, so most captures repeat a line), narrow the window to 44.
        if (!resized && new Set(lines.filter((l) => l.width === 50).map((l) => l.line)).size >= 4) {
          tmux.cmd('resize-window', '-t', pane.name, '-x', '44');
          resized = true;
          resizedAt = performance.now();
          width = 44;
        }
        return screen.includes(END_MARKER) ? true : undefined;
      },
      180_000,
      15,
    );
    pane.kill();
    t.same(pane.status(), { code: 0, signal: null }, 'exit 0');
    const unique = (ls: typeof lines) => ls.filter((l, i) => ls.findIndex((m) => m.line === l.line) === i);
    const at50 = unique(lines.filter((l) => l.width === 50));
    t.ok(at50.length >= 3, `the bar was drawn in 50 columns (${at50.length} different lines)`);
    for (const l of at50) {
      t.ok(l.line.length < 50, `fits in 50 columns (${l.line.length}): ${l.line}`);
      t.match(l.line, FIGURES, `every figure whole, nothing cut: ${l.line}`);
    }
    t.notOk(at50.some((l) => /[█░]/.test(l.line)), 'no room for the bar next to the figures: the bar went first');
    // After the resize, the lines of 44 columns: tscp redraws on SIGWINCH, and in any case
    // within a frame (100 ms); a capture in between may still show the line of 50, cut.
    const at44 = unique(lines.filter((l) => l.width === 44 && l.at - resizedAt > 120));
    t.ok(at44.length >= 2, `the copy went on after the resize to 44 columns (${at44.length} different lines)`);
    for (const l of at44) {
      t.ok(l.line.length < 44, `fits in 44 columns after the resize (${l.line.length}): ${l.line}`);
      t.match(l.line, /\d+%.*ETA (\d\d:\d\d|--:--)$/, `percent and ETA whole: ${l.line}`);
    }
  });

  t.test('--fsync: a syncing stage while the data is flushed, then the line is cleared', async (t) => {
    // 384 MiB, read at 1 GiB/s at most: the copy outlasts the bar's delay, and leaves the
    // page cache holding hundreds of MiB for the flush to write to the XFS image.
    fresh();
    const mid = path.join(ext4, 'mid');
    if (!fs.existsSync(mid)) {
      writeBig(mid, 384 * MiB);
      syncFs(ext4);
    }
    dropCache(mid);
    const dest = path.join(out, 'synced');
    const run = runTty(scratch, ['--fsync', mid, dest], { NO_COLOR: '1' });
    t.equal(run.status, 0, 'exit 0');
    t.equal(fs.statSync(dest).size, 384 * MiB, 'DEST is complete');
    const text = stripAnsi(run.raw);
    const sync = run.raw.indexOf('syncing');
    t.ok(sync >= 0, `a syncing stage was drawn: ${JSON.stringify(text.slice(-300))}`);
    if (sync < 0) return;
    const frame = /syncing[^\r\n\x1b]*/.exec(run.raw.slice(sync))![0];
    t.match(frame, /^syncing  .*ETA (\d\d:\d\d|--:--)/, `the syncing line has an ETA: ${frame}`);
    t.match(frame, /\d+%  \d+(\.\d+)? (B|KiB|MiB|GiB) to write/, `and how much the cache still holds: ${frame}`);
    const lastCopyFrame = run.raw.lastIndexOf('/s  ETA');
    t.ok(lastCopyFrame < sync, 'it comes after the copy frames');
    const clear = run.raw.lastIndexOf(`${ESC}[2K`);
    t.ok(clear > sync, 'the line is erased after the syncing stage');
    t.comment(`syncing drawn at ${timeOf(run, sync).toFixed(2)} s, line cleared at ${timeOf(run, clear).toFixed(2)} s`);
  });

  t.test('an instant copy shows no bar on a terminal', async (t) => {
    fresh();
    const reflink = runTty(scratch, [small, path.join(out, 'reflinked')]);
    t.equal(reflink.status, 0, 'reflink on XFS: exit 0');
    t.equal(reflink.raw, '', `a 64 MiB reflink on XFS writes nothing to the terminal (${JSON.stringify(reflink.raw.slice(0, 80))})`);
    const cross = runTty(scratch, [smallExt4, path.join(out, 'small-copy')]);
    t.equal(cross.status, 0, '4 MiB in-kernel copy: exit 0');
    t.equal(cross.raw, '', 'a 4 MiB copy across filesystems writes nothing to the terminal');
  });

  t.test('-q and --no-progress keep a terminal quiet during a long copy', async (t) => {
    for (const flag of ['-q', '--no-progress']) {
      fresh();
      const run = runTty(scratch, [flag, big, path.join(out, 'quiet')]);
      t.equal(run.status, 0, `${flag}: exit 0`);
      t.equal(run.raw, '', `${flag}: not a byte on the terminal (${JSON.stringify(run.raw.slice(0, 80))})`);
    }
  });

  t.test('never a byte of progress in a pipe or a file', async (t) => {
    for (const [what, env] of [
      ['no colour variables', {}],
      ['FORCE_COLOR=1', { FORCE_COLOR: '1' }],
    ] as [string, Record<string, string>][]) {
      fresh();
      const r = runPiped([big, path.join(out, 'piped')], env);
      t.equal(r.status, 0, `${what}: exit 0`);
      t.ok(r.ms > PROGRESS_DELAY_MS * 2, `${what}: the copy was long enough for a bar on a terminal (${Math.round(r.ms)} ms)`);
      t.equal(r.stderr, '', `${what}: stderr (a pipe) is empty`);
      t.equal(r.stdout, '', `${what}: stdout is empty`);
    }

    fresh();
    const errFile = path.join(scratch, 'stderr.txt');
    const fd = fs.openSync(errFile, 'w');
    const r = runPiped([big, path.join(out, 'to-file')], {}, fd);
    fs.closeSync(fd);
    t.equal(r.status, 0, 'stderr to a file: exit 0');
    t.equal(fs.readFileSync(errFile, 'utf8'), '', 'stderr to a file: the file is empty');
  });

  t.test('--progress forces the bar into a pipe; -q and --no-progress win over it', async (t) => {
    fresh();
    const forced = runPiped(['--progress', big, path.join(out, 'forced')]);
    t.equal(forced.status, 0, '--progress: exit 0');
    t.match(stripAnsi(forced.stderr), /in-kernel/, '--progress: the bar (with its method) is on stderr');
    t.match(stripAnsi(forced.stderr), /\d+%/, '--progress: with a percentage');
    t.equal(forced.stdout, '', '--progress: nothing on stdout');
    for (const flags of [['--progress', '-q'], ['--progress', '--no-progress']]) {
      fresh();
      const r = runPiped([...flags, big, path.join(out, 'off')]);
      t.equal(r.status, 0, `${flags.join(' ')}: exit 0`);
      t.equal(r.stderr, '', `${flags.join(' ')}: no progress`);
    }
  });

  t.test('colour only on a terminal; NO_COLOR and FORCE_COLOR honoured', async (t) => {
    const missing = path.join(scratch, 'no-such-file');
    const dest = path.join(scratch, 'never-written');
    const errorLine = /tscp:(\x1b\[[0-9;]*m)* cannot (copy|stat)/;

    const plainPipe = runPiped([missing, dest]);
    t.equal(plainPipe.status, 1, 'pipe: exit 1');
    t.match(plainPipe.stderr, /^tscp: cannot (copy|stat)/, 'pipe: the error line starts with a plain "tscp:"');
    t.notMatch(plainPipe.stderr, ESC, 'pipe: no escape codes');

    const forcedPipe = runPiped([missing, dest], { FORCE_COLOR: '1' });
    t.equal(forcedPipe.status, 1, 'pipe, FORCE_COLOR=1: exit 1');
    t.match(forcedPipe.stderr, /^(\x1b\[[0-9;]*m)+tscp:/, 'pipe, FORCE_COLOR=1: the error prefix is coloured');
    t.match(forcedPipe.stderr, errorLine, 'pipe, FORCE_COLOR=1: then the message');

    const forcedOffPipe = runPiped([missing, dest], { FORCE_COLOR: '0' });
    t.notMatch(forcedOffPipe.stderr, ESC, 'pipe, FORCE_COLOR=0: no escape codes');

    const tty = runTty(scratch, [missing, dest]);
    t.equal(tty.status, 1, 'terminal: exit 1');
    t.match(tty.raw, /(\x1b\[[0-9;]*m)+tscp:/, 'terminal: the error prefix is coloured');

    const noColor = runTty(scratch, [missing, dest], { NO_COLOR: '1' });
    t.match(noColor.raw, /^tscp: cannot (copy|stat)/, 'terminal, NO_COLOR=1: the error line is there');
    t.notMatch(noColor.raw, ESC, 'terminal, NO_COLOR=1: no escape codes at all');

    const forcedOff = runTty(scratch, [missing, dest], { FORCE_COLOR: '0' });
    t.match(forcedOff.raw, /^tscp: cannot (copy|stat)/, 'terminal, FORCE_COLOR=0: the error line is there');
    t.notMatch(forcedOff.raw, ESC, 'terminal, FORCE_COLOR=0: no escape codes at all');

    t.notOk(fs.existsSync(dest), 'DEST never written');
  });
}
