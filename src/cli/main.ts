/**
 * The command line: parse options with commander, turn them into a CopyOptions object,
 * run the engine, print what happened, and return the exit status. The only place that
 * decides exit codes and writes to the terminal.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CopyError, CopyMode, CopyOptions, CopyResult, FilePath, Reporter } from '../copy/index.js';
import { EXIT_DIFFERS, EXIT_FAILED, EXIT_OK, EXIT_SIGNAL_BASE, EXIT_USAGE } from './exit-codes.js';
import { MAX_FILE_OFFSET, SizeError, parseSize } from './size.js';

/** What main() needs of `process`; tests pass their own. */
export interface Proc {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** The raw command line (NUL-separated, as /proc/self/cmdline); read from /proc for the real process. */
  cmdline?: Buffer;
  on?(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off?(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  pid?: number;
  kill?(pid: number, signal: NodeJS.Signals): unknown;
}

interface ParsedOptions {
  reflink?: string | true;
  copy?: boolean;
  dedupe?: boolean;
  srcOffset?: bigint;
  dstOffset?: bigint;
  length?: bigint;
  verbose?: boolean;
  quiet?: boolean;
  json?: boolean;
  inplace?: boolean;
  fsync?: boolean;
  /** --progress / --no-progress; undefined means "when stderr is a terminal". */
  progress?: boolean;
}

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

/** A usage error found after commander's own parsing (conflicting options, ranges). */
class UsageError extends Error {}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
const HANDLED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

type Commander = typeof import('commander');

function sizeOption(commander: Commander) {
  return (text: string): bigint => {
    try {
      return parseSize(text);
    } catch (err) {
      if (err instanceof SizeError) throw new commander.InvalidArgumentError(err.message);
      throw err;
    }
  };
}

export const HELP_FOOTER = `
Sizes: bytes, 0x hex, K M G T or KiB MiB GiB TiB (powers of 1024), KB MB GB TB (powers of 1000).
Exit status: 0 ok, 1 copy failed, 2 usage error, 3 --dedupe found contents differ, 128+N signal N.

Examples:
  tscp big.img /mnt/backup/              reflink if possible, else the fastest copy
  tscp --copy disk.img disk-copy.img     an independent copy, sharing no extents
  tscp -s 1M -l 4K data.bin head.bin     copy 4 KiB from offset 1 MiB to offset 0
`;

function buildProgram(commander: Commander, proc: Proc): Command {
  const { Command, Option } = commander;
  const size = sizeOption(commander);
  return new Command('tscp')
    .usage('[options] SOURCE DEST\n       tscp [options] SOURCE DIRECTORY')
    .description('Copy a file or a byte range by reflink, in-kernel copy or read/write, whichever is fastest.')
    .argument('<SOURCE>', 'file to copy')
    .argument('<DEST>', 'file to write, or directory to copy into')
    .optionsGroup('Mode:')
    .addOption(
      new Option('--reflink [WHEN]', 'share extents: auto (default) falls back to copying, always fails instead, never does not share; bare --reflink is always').choices([
        'auto',
        'always',
        'never',
      ]),
    )
    .option('--copy', 'the same as --reflink=never')
    .option('--dedupe', "share extents with DEST only where its bytes already equal SOURCE's")
    .option('--inplace', 'write into DEST itself (keeps its inode and hard links) instead of a temporary file renamed over it; a failed copy then leaves DEST partly written')
    .option('--fsync', 'flush DEST to disk before reporting success')
    .optionsGroup('Range:')
    .option('-s, --src-offset <N>', 'first byte of SOURCE to copy (default 0)', size)
    .option('-d, --dst-offset <N>', 'where that byte lands in DEST (default 0)', size)
    .option('-l, --length <N>', 'how many bytes (default: to the end of SOURCE)', size)
    .optionsGroup('Output:')
    .option('-v, --verbose', 'say what was done: bytes, method(s), sharing, time')
    .option('-q, --quiet', 'print nothing but errors (no progress bar)')
    .option('--json', 'print one JSON report of the run on stdout, nothing else there')
    .option('--progress', 'show progress even when stderr is not a terminal')
    .option('--no-progress', 'never show progress')
    .version(version(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .addHelpText('after', HELP_FOOTER)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void proc.stdout.write(s),
      writeErr: (s) => void proc.stderr.write(s),
      outputError: (s, write) => write(`tscp: ${s.replace(/^error: /, '')}`),
    })
    .showHelpAfterError("Try 'tscp --help' for more information.");
}

/**
 * A bare `--reflink` means `--reflink=always`, as in GNU cp. commander would otherwise take
 * the next word (SOURCE) as its value; GNU getopt only takes an optional value after '='.
 */
function normalizeArgs(args: string[]): string[] {
  const end = args.indexOf('--');
  return args.map((a, i) => (a === '--reflink' && (end < 0 || i < end) ? '--reflink=always' : a));
}

function toNumber(name: string, v: bigint | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UsageError(`${name} ${v} is larger than tscp supports (2^53-1 = ${Number.MAX_SAFE_INTEGER})`);
  }
  return Number(v);
}

/** The checks across options, in one place. */
function toCopyOptions(o: ParsedOptions): CopyOptions & { mode: CopyMode } {
  const reflink = o.reflink === true ? 'always' : o.reflink;
  if (o.copy && reflink && reflink !== 'never') throw new UsageError(`--copy conflicts with --reflink=${reflink}`);
  if (o.dedupe && (o.copy || reflink)) throw new UsageError(`--dedupe cannot be combined with ${o.copy ? '--copy' : '--reflink'}`);
  if (o.verbose && o.quiet) throw new UsageError('--verbose and --quiet cannot be used together');
  if (o.inplace && o.dedupe) throw new UsageError('--inplace cannot be combined with --dedupe (dedupe never writes)');
  for (const [name, off] of [['--src-offset', o.srcOffset], ['--dst-offset', o.dstOffset]] as const) {
    if (off !== undefined && o.length !== undefined && off + o.length > MAX_FILE_OFFSET) {
      throw new UsageError(`${name} + --length is past the largest file offset (2^63-1)`);
    }
  }
  const mode: CopyMode = o.dedupe ? 'dedupe' : o.copy ? 'never' : ((reflink as CopyMode | undefined) ?? 'auto');
  return {
    mode,
    srcOffset: toNumber('--src-offset', o.srcOffset),
    dstOffset: toNumber('--dst-offset', o.dstOffset),
    length: toNumber('--length', o.length),
    inplace: o.inplace,
    fsync: o.fsync,
  };
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

interface Painter {
  error(s: string): string;
  bar(s: string): string;
}

async function painter(color: boolean): Promise<Painter> {
  if (!color) return { error: (s) => s, bar: (s) => s };
  // chalk only when colour will really be used: a plain copy in a script never loads it.
  const { Chalk } = await import('chalk');
  const chalk = new Chalk({ level: 1 });
  return { error: (s) => chalk.red.bold(s), bar: (s) => chalk.cyan(s) };
}

/** Run tscp with `proc.argv`; resolves with the exit status (the caller sets it). */
export async function main(proc: Proc): Promise<number> {
  // A terminal that went away (SIGHUP) makes writes to it fail with EIO: that must not
  // become an uncaught exception that kills tscp before it removes its temporary file.
  const ignoreWriteErrors = () => undefined;
  proc.stdout.on?.('error', ignoreWriteErrors);
  proc.stderr.on?.('error', ignoreWriteErrors);
  const args = normalizeArgs(proc.argv.slice(2));
  // `tscp --version` answers before loading anything else (start-up is all it costs).
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    proc.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  const commander = await import('commander');
  const program = buildProgram(commander, proc);
  const jsonWanted = args.slice(0, args.includes('--') ? args.indexOf('--') : undefined).includes('--json');
  let options: CopyOptions & { mode: CopyMode };
  let source: FilePath;
  let dest: FilePath;
  try {
    if (jsonWanted) {
      // Usage errors become the JSON report; keep commander's text off stdout/stderr.
      program.configureOutput({ writeOut: (s) => void proc.stdout.write(s), writeErr: () => undefined, outputError: () => undefined });
    }
    program.parse(args, { from: 'user' });
    options = toCopyOptions(program.opts<ParsedOptions>());
    const raw = rawArguments(proc.argv, readCmdline(proc));
    // An operand whose bytes are not UTF-8 goes to the engine as those bytes.
    [source, dest] = (program.args as [string, string]).map((arg) => raw.get(arg)?.shift() ?? arg) as [FilePath, FilePath];
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
  const opts = program.opts<ParsedOptions>();

  // Loaded only now: --help and --version never load the engine or native code.
  const { copy, CopyError } = await import('../copy/index.js');
  const paint = await painter(!opts.json && wantsColor(proc.env, proc.stderr.isTTY));
  const showProgress = !opts.quiet && !opts.json && (opts.progress ?? Boolean(proc.stderr.isTTY));
  let progress: (Reporter & { stop(): void }) | undefined;
  if (showProgress) {
    const { ProgressReporter } = await import('./progress.js');
    progress = new ProgressReporter({ stream: proc.stderr, paint: paint.bar });
  }

  // Signals abort the copy at its next chunk, so the temporary file is removed and DEST
  // stays as it was, instead of Node dying mid-write.
  const controller = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    caught ??= signal;
    controller.abort(signal);
  };
  for (const s of HANDLED_SIGNALS) proc.on?.(s, onSignal);
  try {
    const result = await copy(source, dest, { ...options, reporter: progress, signal: controller.signal });
    progress?.stop();
    if (opts.json) writeJson(proc, successReport(result));
    else if (opts.verbose) {
      const { describeResult } = await import('./report.js');
      proc.stdout.write(`${describeResult(result)}\n`);
    }
    return EXIT_OK;
  } catch (err) {
    progress?.stop();
    if (!(err instanceof CopyError)) throw err;
    const exitCode = exitCodeFor(err, caught);
    // The error line goes to stderr in every output mode; --json adds the report on stdout.
    if (opts.json) writeJson(proc, failureReport(err, options, exitCode));
    if (err.kind === 'interrupted') {
      // Only a whole-file copy through a temporary file can promise DEST is as it was.
      const inPlace = options.inplace || isRangeRequest(options);
      const state = inPlace ? `${err.bytesCopied} bytes were written into DEST` : 'DEST left as it was';
      proc.stderr.write(
        `${paint.error('tscp:')} interrupted by ${caught ?? 'signal'} after ${err.bytesCopied} bytes of ${err.quotedSource} -> ${err.quotedDest}; ${state}\n`,
      );
    } else {
      const after = err.bytesCopied > 0 ? ` after ${err.bytesCopied} bytes` : '';
      proc.stderr.write(`${paint.error('tscp:')} ${err.message}${after}\n`);
    }
    if (caught === 'SIGHUP' && (proc.stdout.isTTY || proc.stderr.isTTY)) hangUp(proc, onSignal);
    return exitCode;
  } finally {
    for (const s of HANDLED_SIGNALS) proc.off?.(s, onSignal);
  }
}

/**
 * After a hang-up of the terminal tscp writes to, the cleanup done, die by SIGHUP itself
 * (the shell still sees 129): Node 20 aborts when it exits normally after its terminal is
 * gone, trying to restore the terminal's settings (nodejs/node#51519). Without a terminal
 * there is nothing to restore, and tscp exits 129 normally.
 */
function hangUp(proc: Proc, handler: (signal: NodeJS.Signals) => void): void {
  if (proc.kill === undefined || proc.pid === undefined) return;
  for (const s of HANDLED_SIGNALS) proc.off?.(s, handler);
  proc.kill(proc.pid, 'SIGHUP');
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
  range: { srcOffset: number; dstOffset: number; length: number | null } | null;
  totalBytes: number | null;
  bytes: CopyResult['bytes'] | null;
  fallbacks: CopyResult['fallbacks'];
  sharedBytes: number | null;
  inPlace: boolean | null;
  durationMs: number | null;
  error: null | { kind: string; code: string | null; message: string; bytesCopied: number };
}

function writeJson(proc: Proc, report: JsonReport): void {
  proc.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
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
    error: null,
  };
}

function isRangeRequest(options: CopyOptions): boolean {
  return options.srcOffset !== undefined || options.dstOffset !== undefined || options.length !== undefined;
}

function failureReport(err: CopyError, options: CopyOptions & { mode: CopyMode }, exitCode: number): JsonReport {
  const isRange = isRangeRequest(options);
  return {
    schema: 1,
    ok: false,
    exitCode,
    source: err.source,
    dest: err.dest,
    mode: options.mode,
    range: isRange ? { srcOffset: options.srcOffset ?? 0, dstOffset: options.dstOffset ?? 0, length: options.length ?? null } : null,
    totalBytes: null,
    bytes: err.bytes ?? null,
    fallbacks: err.fallbacks,
    sharedBytes: null,
    inPlace: null,
    durationMs: null,
    error: { kind: err.kind, code: err.code ?? null, message: err.message, bytesCopied: err.bytesCopied },
  };
}

function usageReport(message: string): JsonReport {
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
    error: { kind: 'usage', code: null, message, bytesCopied: 0 },
  };
}
