/**
 * The command line: parse options with commander, turn them into a CopyOptions object,
 * run the engine, print what happened, and return the exit status. The only place that
 * decides exit codes and writes to the terminal.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { CopyError, CopyMode, CopyOptions } from '../copy/index.js';
import { EXIT_DIFFERS, EXIT_FAILED, EXIT_OK, EXIT_SIGNAL_BASE, EXIT_USAGE } from './exit-codes.js';
import { MAX_FILE_OFFSET, SizeError, parseSize } from './size.js';

/** What main() needs of `process`; tests pass their own. */
export interface Proc {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  on?(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off?(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
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
}

/** A usage error found after commander's own parsing (conflicting options, ranges). */
class UsageError extends Error {}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function sizeOption(text: string): bigint {
  try {
    return parseSize(text);
  } catch (err) {
    if (err instanceof SizeError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

function buildProgram(proc: Proc): Command {
  return new Command('tscp')
    .usage('[options] SOURCE DEST\n       tscp [options] SOURCE DIRECTORY')
    .description(
      'Copy SOURCE to DEST, or into DIRECTORY, by the fastest correct means: reflink (shared ' +
        'extents) where the filesystem can, else an in-kernel copy, else read/write.',
    )
    .argument('<SOURCE>', 'file to copy')
    .argument('<DEST>', 'file to write, or directory to copy into')
    .addOption(
      new Option('--reflink [WHEN]', 'share extents: auto (default) tries it then copies, always fails if it cannot, never does not; bare --reflink means always').choices(['auto', 'always', 'never']),
    )
    .option('--copy', 'the same as --reflink=never: an independent copy that shares no extents')
    .option('--dedupe', "share extents with an existing DEST only where its bytes already equal SOURCE's")
    .option('-s, --src-offset <N>', 'first byte of SOURCE to copy (default 0)', sizeOption)
    .option('-d, --dst-offset <N>', 'where that byte lands in DEST (default 0)', sizeOption)
    .option('-l, --length <N>', 'how many bytes (default: to the end of SOURCE)', sizeOption)
    .option('-v, --verbose', 'say what was done: method(s), bytes, time')
    .option('-q, --quiet', 'print nothing but errors')
    .version(version(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .addHelpText(
      'after',
      `
Sizes: bytes, 0x hex, K M G T (or KiB MiB GiB TiB: powers of 1024), KB MB GB TB (powers of 1000).

Exit status: 0 success, 1 the copy failed, 2 usage error, 3 --dedupe found the contents differ,
128+N killed by signal N.

Examples:
  tscp big.img /mnt/backup/            reflink if possible, else the fastest copy
  tscp --copy disk.qcow2 disk-copy.qcow2
  tscp -s 1M -d 0 -l 4K data.bin head.bin
  tscp --dedupe a.iso b.iso            share the extents of two identical files
`,
    )
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
  };
}

function exitCodeFor(err: CopyError, signal: NodeJS.Signals | undefined): number {
  if (err.kind === 'interrupted') return EXIT_SIGNAL_BASE + (SIGNAL_NUMBERS[signal ?? 'SIGINT'] ?? 2);
  if (err.kind === 'differs') return EXIT_DIFFERS;
  return EXIT_FAILED;
}

/** Run tscp with `proc.argv`; resolves with the exit status (the caller sets it). */
export async function main(proc: Proc): Promise<number> {
  const program = buildProgram(proc);
  let options: CopyOptions & { mode: CopyMode };
  let source: string;
  let dest: string;
  try {
    program.parse(normalizeArgs(proc.argv.slice(2)), { from: 'user' });
    options = toCopyOptions(program.opts<ParsedOptions>());
    [source, dest] = program.args as [string, string];
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      proc.stderr.write(`tscp: ${err.message}\nTry 'tscp --help' for more information.\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  const opts = program.opts<ParsedOptions>();

  // Loaded only now: --help and --version never load the engine or native code.
  const { copy, CopyError } = await import('../copy/index.js');
  const { describeResult } = await import('./report.js');

  // Signals abort the copy at its next chunk, so the temporary file is removed and DEST
  // stays as it was, instead of Node dying mid-write.
  const controller = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    caught ??= signal;
    controller.abort(signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) proc.on?.(s, onSignal);
  try {
    const result = await copy(source, dest, { ...options, signal: controller.signal });
    if (opts.verbose) proc.stdout.write(`${describeResult(result)}\n`);
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof CopyError)) throw err;
    if (err.kind === 'interrupted') {
      proc.stderr.write(`tscp: interrupted by ${caught ?? 'signal'} after ${err.bytesCopied} bytes of '${err.source}' -> '${err.dest}'; DEST left as it was\n`);
    } else {
      const after = err.bytesCopied > 0 ? ` after ${err.bytesCopied} bytes` : '';
      proc.stderr.write(`tscp: ${err.message}${after}\n`);
    }
    return exitCodeFor(err, caught);
  } finally {
    for (const s of signals) proc.off?.(s, onSignal);
  }
}
