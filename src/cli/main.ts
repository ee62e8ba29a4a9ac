/**
 * The command line: parse options with commander, turn them into a CopyOptions object,
 * run the engine, print what happened, and return the exit status. The only place that
 * decides exit codes and writes to the terminal.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ByteCount, CopyError, CopyMode, CopyOptions, CopyResult, FilePath, Reporter } from '../copy/index.js';
import { byteCount } from '../copy/bytes.js';
import { spareStdioFromExitSync } from '../sys/index.js';
import { copyStaysLocal } from './local-files.js';
import { plainOperands } from './quick-copy.js';
import { tscpVersion } from './version.js';
import { InlineCopy } from './inline-copy.js';
import { EXIT_DIFFERS, EXIT_FAILED, EXIT_OK, EXIT_SIGNAL_BASE, EXIT_USAGE } from './exit-codes.js';
import { SIGNAL_NUMBERS, catchSignals, hangUp, interruptedLine, type Proc } from './signals.js';
import { UsageError, buildProgram, checkBareReflink, normalizeArgs, planFrom, type ParsedOptions, type Plan } from './options.js';

export { HELP_FOOTER } from './options.js';
export type { Proc } from './signals.js';


/**
 * The operands' raw bytes. Node decodes argv as UTF-8 and turns bytes that are not into
 * U+FFFD, which would make tscp read or write a different name than the one given; the
 * kernel's copy of the command line in /proc/self/cmdline still has the bytes.
 */
export function rawArguments(argv: string[], cmdline: Buffer | null): Map<string, Buffer[]> {
  const raw = new Map<string, Buffer[]>();
  if (!cmdline) return raw;
  const parts: Buffer[] = [];
  for (let start = 0; start < cmdline.length; ) {
    let end = cmdline.indexOf(0, start);
    if (end < 0) end = cmdline.length;
    parts.push(cmdline.subarray(start, end));
    start = end + 1;
  }
  const args = argv.slice(2);
  const tail = parts.slice(parts.length - args.length);
  if (tail.length !== args.length) return raw;
  args.forEach((arg, i) => {
    const bytes = tail[i]!;
    if (bytes.toString('utf8') !== arg) return; // Not the same argument list: trust nothing.
    if (Buffer.from(arg).equals(bytes)) return;
    raw.set(arg, [...(raw.get(arg) ?? []), bytes]);
  });
  return raw;
}

function readCmdline(proc: Proc): Buffer | null {
  if (proc.argv !== process.argv) return proc.cmdline ?? null;
  try {
    return readFileSync('/proc/self/cmdline');
  } catch {
    return null;
  }
}

function exitCodeFor(err: CopyError, signal: NodeJS.Signals | undefined): number {
  if (err.kind === 'interrupted') return EXIT_SIGNAL_BASE + (SIGNAL_NUMBERS[signal ?? 'SIGINT'] ?? 2);
  if (err.kind === 'differs') return EXIT_DIFFERS;
  return EXIT_FAILED;
}

/**
 * Whether to colour stderr: FORCE_COLOR wins (0 = off), then NO_COLOR (any non-empty
 * value = off), then whether stderr is a terminal.
 */
export function wantsColor(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if (env.NO_COLOR) return false;
  return Boolean(isTTY);
}

export interface Painter {
  error(s: string): string;
  bar(s: string): string;
}

export async function painter(color: boolean): Promise<Painter> {
  if (!color) return { error: (s) => s, bar: (s) => s };
  // chalk only when colour will really be used: a plain copy in a script never loads it.
  const { Chalk } = await import('chalk');
  const chalk = new Chalk({ level: 1 });
  return { error: (s) => chalk.red.bold(s), bar: (s) => chalk.cyan(s) };
}

/**
 * Run tscp with `proc.argv`; resolves with the exit status (the caller sets it). Never
 * rejects: an exception nobody expected (a bug) becomes one line `tscp: internal error:
 * ...` and exit 1, with the --json document, never a stack trace. The engine's own
 * cleanup (removing a temporary file) has run by then: it sits in `finally` blocks.
 */
export async function main(proc: Proc): Promise<number> {
  if (proc.argv === process.argv) {
    // An exception thrown from a callback (a timer, a stream event) bypasses the try below.
    process.once('uncaughtException', (err) => {
      process.exitCode = internalError(proc, err);
      process.exit();
    });
  }
  // koffi's exit handler would fsync stdout and stderr, which waits for the disk where they
  // are files (sys/stdio-at-exit.ts).
  const spareStdio = proc.argv === process.argv ? spareStdioFromExitSync() : null;
  try {
    return await run(proc);
  } catch (err) {
    return internalError(proc, err);
  } finally {
    // Added last, so that it runs after every other exit listener has written.
    if (spareStdio) process.once('exit', spareStdio);
  }
}

/** Options whose value is the next argument when not given with '=' (commander reads them so). */
const TAKES_NEXT = new Set(['-t', '--target-directory', '-j', '--jobs', '-s', '--src-offset', '-d', '--dst-offset', '-l', '--length', '--no-preserve']);

/**
 * Whether the command line asks for --json, read as commander will read it: `--` ends the
 * options, but not where it is another option's value (`--length -- --json` asks), and
 * `--json` as a value (`-s --json`) is not the option.
 */
export function asksForJson(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return false;
    if (a === '--json') return true;
    if (TAKES_NEXT.has(a) || (/^-[a-zA-Z]+$/.test(a) && TAKES_NEXT.has(`-${a[a.length - 1]}`))) i++;
  }
  return false;
}

export function internalError(proc: Proc, err: unknown): number {
  const message = `internal error: ${err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err)}`;
  proc.stderr.write(`tscp: ${message.split('\n')[0]}\n`);
  const args = proc.argv.slice(2);
  if (asksForJson(args)) {
    writeJson(proc, { ...usageReport(message), exitCode: EXIT_FAILED, error: { kind: 'internal', code: null, message, bytesCopied: 0 } });
  }
  return EXIT_FAILED;
}

async function run(proc: Proc): Promise<number> {
  // A terminal that went away (SIGHUP) makes writes to it fail with EIO: that must not
  // become an uncaught exception that kills tscp before it removes its temporary file.
  const ignoreWriteErrors = () => undefined;
  proc.stdout.on?.('error', ignoreWriteErrors);
  proc.stderr.on?.('error', ignoreWriteErrors);
  const args = normalizeArgs(proc.argv.slice(2));
  // `tscp --version` answers before loading anything else (start-up is all it costs).
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    proc.stdout.write(`${tscpVersion()}\n`);
    return EXIT_OK;
  }
  return parseAndRun(proc, args);
}

async function parseAndRun(proc: Proc, args: string[]): Promise<number> {
  // `tscp SOURCE DEST` with nothing but options that change no outcome (what the quick way
  // declined: a sparse SOURCE, an existing DEST...): no parser to load. Both names are
  // UTF-8 and neither starts with '-' (plainOperands), so commander would read them so.
  const plain = plainOperands(proc.argv.slice(2));
  if (plain) {
    const opts: ParsedOptions = plain.progress === undefined ? {} : { progress: plain.progress };
    return runPlan(proc, planFrom(opts, [plain.source, plain.dest], args), opts);
  }
  const commander = await import('commander');
  const jsonWanted = asksForJson(args);
  const program = buildProgram(commander, tscpVersion(), {
    out: (s) => void proc.stdout.write(s),
    // Under --json, usage errors become the JSON report; commander's text stays off stderr.
    err: (s) => void (jsonWanted ? undefined : proc.stderr.write(s)),
  });
  let plan: Plan;
  try {
    program.parse(args, { from: 'user' });
    const raw = rawArguments(proc.argv, readCmdline(proc));
    checkBareReflink(proc.argv.slice(2), program.args, (name) => existsSync(name));
    plan = planFrom(program.opts(), program.args, args);
    // An operand whose bytes are not UTF-8 goes to the engine as those bytes.
    const exact = (arg: string) => (raw.get(arg)?.shift() ?? arg) as string;
    if (plan.kind === 'single') {
      plan.source = exact(plan.source);
      plan.dest = exact(plan.dest);
    } else {
      plan.sources = plan.sources.map(exact);
      plan.dest = exact(plan.dest);
    }
  } catch (err) {
    if (err instanceof commander.CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      if (jsonWanted) {
        const message = err.message.replace(/^error: /, '');
        proc.stderr.write(`tscp: ${message}\n`);
        writeJson(proc, usageReport(message));
      }
      return EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      proc.stderr.write(`tscp: ${err.message}\nTry 'tscp --help' for more information.\n`);
      if (jsonWanted) writeJson(proc, usageReport(err.message));
      return EXIT_USAGE;
    }
    throw err;
  }
  return runPlan(proc, plan, program.opts<ParsedOptions>());
}

async function runPlan(proc: Proc, plan: Plan, opts: ParsedOptions): Promise<number> {
  if (plan.kind === 'tree') {
    const { runTree } = await import('./run-tree.js');
    return runTree(proc, plan, opts);
  }
  const options = plan.copy;
  const source: FilePath = plan.source;
  const dest: FilePath = plan.dest;

  // Regular files on local filesystems are copied on this thread: each call returns, and the
  // engine gives the event loop a turn between calls, so signals are heard. Anything else
  // (a FIFO, a device, a network or FUSE mount) runs in a worker, whose blocked call this
  // thread can give up on (copy-thread.ts); so does a copy that ends in an fsync under a
  // progress bar, which shows the flush (seconds for a large file) only if this thread is
  // free to draw it. Loaded only now: --help and --version never load the engine.
  const { paint, showProgress } = await outputChoices(proc, opts);
  const inline = !(options.fsync && showProgress) && (await copyStaysLocal(source, dest));
  const worker = inline ? new InlineCopy() : new (await import('./copy-thread.js')).CopyThread();
  let progress: (Reporter & { stop(): void }) | undefined;
  if (showProgress) {
    const { ProgressReporter } = await import('./progress.js');
    progress = new ProgressReporter({ stream: proc.stderr, paint: paint.bar, fsync: options.fsync });
  }

  const signals = catchSignals(proc);
  const { controller, onSignal } = signals;
  try {
    // The umask is read here, once: reading it means setting it and back (umask(2)), which
    // is the main thread's business, as for trees.
    const outcome = await worker.run(source, dest, { ...options, umask: process.umask() }, progress, controller.signal);
    progress?.stop();
    if ('result' in outcome) {
      const result = outcome.result;
      if (opts.json) writeJson(proc, successReport(result));
      else if (opts.verbose) {
        const { describeResult } = await import('./report.js');
        proc.stdout.write(`${describeResult(result)}\n`);
      }
      return EXIT_OK;
    }
    const stuck = 'stuck' in outcome;
    const err = 'stuck' in outcome ? outcome.stuck : outcome.error;
    // The worker is blocked in a system call and will not clean up: remove its temporary
    // file before saying DEST was left as it was.
    if (stuck) await worker.removeTemp();
    if (err.kind === 'exists') {
      // -n: an existing DEST is left alone, quietly, as cp -n does.
      if (opts.json) writeJson(proc, failureReport(err, options, EXIT_OK));
      else if (opts.verbose) proc.stdout.write(`skipped ${err.quotedDest} (exists)\n`);
      return EXIT_OK;
    }
    if (err.code === 'EISDIR' && !isRangeRequest(options) && (await isDirectory(source))) {
      const message = `-r not specified; omitting directory ${err.quotedSource}`;
      proc.stderr.write(`${paint.error('tscp:')} ${message}\n`);
      if (opts.json) writeJson(proc, failureReport(err, options, EXIT_FAILED));
      return EXIT_FAILED;
    }
    const exitCode = exitCodeFor(err, signals.caught);
    // The error line goes to stderr in every output mode; --json adds the report on stdout.
    if (opts.json) writeJson(proc, failureReport(err, options, exitCode));
    else if (opts.verbose && err.result) {
      // --dedupe shared what was equal before finding differences: -v says what and where.
      const { describeResult } = await import('./report.js');
      proc.stdout.write(`${describeResult(err.result)}, exit ${exitCode}\n`);
    }
    if (err.kind === 'interrupted') {
      // Only a whole-file copy through a temporary file can promise DEST is as it was.
      const inPlace = options.inplace || isRangeRequest(options);
      const state = inPlace ? `${err.bytesCopied} bytes were written into DEST` : 'DEST left as it was';
      proc.stderr.write(`${paint.error('tscp:')} ${interruptedLine(signals.caught ?? 'signal', err.bytesCopied, err.quotedSource, err.quotedDest, state)}\n`);
    } else {
      const after = Number(err.bytesCopied) > 0 ? ` after ${err.bytesCopied} bytes` : '';
      proc.stderr.write(`${paint.error('tscp:')} ${err.message}${after}\n`);
    }
    // Node cannot exit while the worker is blocked (it waits for the thread): die by the
    // signal itself, so the shell still sees 128+N.
    if (stuck || (signals.caught === 'SIGHUP' && (proc.stdout.isTTY || proc.stderr.isTTY))) hangUp(proc, onSignal, signals.caught ?? 'SIGINT');
    return exitCode;
  } catch (err) {
    progress?.stop();
    throw err;
  } finally {
    signals.release();
  }
}

/** Colour (only on a terminal, for humans) and whether to draw progress: the same for files and trees. */
export async function outputChoices(proc: Proc, opts: ParsedOptions): Promise<{ paint: Painter; showProgress: boolean }> {
  const paint = await painter(!opts.json && wantsColor(proc.env, proc.stderr.isTTY));
  const showProgress = !opts.quiet && !opts.json && (opts.progress ?? Boolean(proc.stderr.isTTY));
  return { paint, showProgress };
}

async function isDirectory(p: FilePath): Promise<boolean> {
  const { stat } = await import('node:fs/promises');
  return stat(p).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

/** The --json document (schema version 1; documented in README.md and tscp(1)). */
export interface JsonReport {
  schema: 1;
  ok: boolean;
  exitCode: number;
  source: string | null;
  dest: string | null;
  mode: CopyMode | null;
  /** On failure, the range as requested (length null: to SOURCE's end). */
  range: { srcOffset: ByteCount; dstOffset: ByteCount; length: ByteCount | null } | null;
  totalBytes: ByteCount | null;
  bytes: CopyResult['bytes'] | null;
  fallbacks: CopyResult['fallbacks'];
  sharedBytes: ByteCount | null;
  inPlace: boolean | null;
  durationMs: number | null;
  /**
   * --dedupe: the byte ranges that differ ({offset, length}, SOURCE offsets, merged), the
   * first 10,000; how many there are in all; how many bytes differ. null in other modes.
   */
  differingRanges: CopyResult['differingRanges'] | null;
  differingRangeCount: number | null;
  differingBytes: ByteCount | null;
  error: null | { kind: string; code: string | null; message: string; bytesCopied: ByteCount };
}

export function writeJson(proc: Proc, report: object): void {
  proc.stdout.write(`${jsonText(report)}\n`);
}

/**
 * JSON with bigints (offsets and sizes past 2^53-1) written as exact integer literals:
 * JSON numbers have no size limit, and JSON.stringify refuses bigints. Each goes out first
 * as a string starting with NUL, which no path can contain, then loses its quotes.
 */
export function jsonText(report: object): string {
  const text = JSON.stringify(report, (_key, value: unknown) => (typeof value === 'bigint' ? `\u0000${value}` : value), 2);
  return text.replace(/"\\u0000(-?\d+)"/g, '$1');
}

function successReport(r: CopyResult): JsonReport {
  return {
    schema: 1,
    ok: true,
    exitCode: EXIT_OK,
    source: r.source,
    dest: r.dest,
    mode: r.mode,
    range: r.range,
    totalBytes: r.totalBytes,
    bytes: r.bytes,
    fallbacks: r.fallbacks,
    sharedBytes: r.sharedBytes,
    inPlace: r.inPlace,
    durationMs: Math.round(r.durationMs * 1000) / 1000,
    ...differing(r),
    error: null,
  };
}

function differing(r: CopyResult): Pick<JsonReport, 'differingRanges' | 'differingRangeCount' | 'differingBytes'> {
  return { differingRanges: r.differingRanges ?? null, differingRangeCount: r.differingRangeCount ?? null, differingBytes: r.differingBytes ?? null };
}

function isRangeRequest(options: CopyOptions): boolean {
  return options.srcOffset !== undefined || options.dstOffset !== undefined || options.length !== undefined;
}

function asCount(v: number | bigint): ByteCount {
  return typeof v === 'bigint' ? byteCount(v) : v;
}

function failureReport(err: CopyError, options: CopyOptions & { mode: CopyMode }, exitCode: number): JsonReport {
  const isRange = isRangeRequest(options);
  // --dedupe that found differences did its work: the report says what it shared.
  if (err.result) return { ...successReport(err.result), ok: false, exitCode, error: errorOf(err) };
  return {
    schema: 1,
    ok: false,
    exitCode,
    source: err.source,
    dest: err.dest,
    mode: options.mode,
    range: isRange ? { srcOffset: asCount(options.srcOffset ?? 0), dstOffset: asCount(options.dstOffset ?? 0), length: options.length === undefined ? null : asCount(options.length) } : null,
    totalBytes: null,
    bytes: err.bytes ?? null,
    fallbacks: err.fallbacks,
    sharedBytes: null,
    inPlace: null,
    durationMs: null,
    differingRanges: null,
    differingRangeCount: null,
    differingBytes: null,
    error: errorOf(err),
  };
}

function errorOf(err: CopyError): JsonReport['error'] {
  return { kind: err.kind, code: err.code ?? null, message: err.message, bytesCopied: err.bytesCopied };
}

export function usageReport(message: string): JsonReport {
  return {
    schema: 1,
    ok: false,
    exitCode: EXIT_USAGE,
    source: null,
    dest: null,
    mode: null,
    range: null,
    totalBytes: null,
    bytes: null,
    fallbacks: [],
    sharedBytes: null,
    inPlace: null,
    durationMs: null,
    differingRanges: null,
    differingRangeCount: null,
    differingBytes: null,
    error: { kind: 'usage', code: null, message, bytesCopied: 0 },
  };
}
