/**
 * The command line for trees and several sources: run copyTree() with a reporter that
 * prints each failing path as it happens (and each path with -v), a progress line on a
 * terminal, the --json document at the end, and the exit status.
 */
import { quotePath, type CopyMode } from '../copy/index.js';
import type { TreeOptions, TreeReporter } from '../tree/types.js';
import { EXIT_DIFFERS, EXIT_FAILED, EXIT_OK, EXIT_SIGNAL_BASE, EXIT_USAGE } from './exit-codes.js';
import { outputChoices, writeJson } from './main.js';
import { SIGNAL_NUMBERS, catchSignals, hangUp, type Proc } from './signals.js';
import type { ParsedOptions } from './options.js';
import { describeEntry, describeTree, treeJson } from './tree-report.js';

export async function runTree(
  proc: Proc,
  plan: { tree: TreeOptions & { mode: CopyMode }; sources: string[]; dest: string },
  opts: ParsedOptions,
): Promise<number> {
  const { copyPlanned, planOperands, OperandError } = await import('../tree/copy-tree.js');
  const { paint, showProgress } = await outputChoices(proc, opts);
  let bar: (TreeReporter & { stop(): void }) | undefined;
  if (showProgress) {
    const { TreeProgressReporter } = await import('./progress.js');
    bar = new TreeProgressReporter({ stream: proc.stderr, paint: paint.bar });
  }
  // Lines printed while the bar is up would be drawn over: clear it, print, let it redraw.
  const say = (stream: NodeJS.WritableStream, line: string) => {
    stream.write(`${bar ? '\r\x1b[K' : ''}${line}\n`);
  };
  const reporter: TreeReporter = {
    ...(bar ? { found: (t) => bar!.found?.(t), fileStarted: (f) => bar!.fileStarted?.(f), method: (m) => bar!.method?.(m), progress: (d) => bar!.progress?.(d) } : {}),
    error: (e) => say(proc.stderr, `${paint.error('tscp:')} ${e.message}`),
    entry: (e) => {
      if (e.action === 'skipped' && e.reason === 'socket') say(proc.stderr, `${paint.error('tscp:')} skipping socket ${quotePath(e.source)} (tscp does not recreate sockets)`);
      else if (opts.verbose && !opts.json) say(proc.stdout, describeEntry(e));
    },
  };

  // The operands first: a command that cannot work touches nothing and installs nothing.
  let planned;
  try {
    planned = await planOperands(plan.sources, plan.dest, plan.tree);
  } catch (err) {
    if (!(err instanceof OperandError)) throw err;
    bar?.stop();
    proc.stderr.write(`${paint.error('tscp:')} ${err.message}\nTry 'tscp --help' for more information.\n`);
    if (opts.json) {
      writeJson(proc, { schema: 1, kind: 'tree', ok: false, exitCode: EXIT_USAGE, sources: plan.sources, dest: plan.dest, errors: [{ path: err.path, code: err.code, message: err.message }] });
    }
    return EXIT_USAGE;
  }

  const signals = catchSignals(proc);
  const { controller, onSignal } = signals;
  try {
    const result = await copyPlanned(planned, plan.sources, plan.dest, { ...plan.tree, reporter, signal: controller.signal });
    bar?.stop();
    const exitCode = result.interrupted
      ? EXIT_SIGNAL_BASE + (SIGNAL_NUMBERS[signals.caught ?? 'SIGINT'] ?? 2)
      : result.errors.length === 0
        ? EXIT_OK
        : result.differs && result.errors.every((e) => e.code === 'EILSEQ')
          ? EXIT_DIFFERS
          : EXIT_FAILED;
    if (result.interrupted) {
      say(proc.stderr, `${paint.error('tscp:')} interrupted by ${signals.caught ?? 'signal'}: ${result.counts.files} files done; no partial file is at any DEST path`);
    }
    if (opts.json) writeJson(proc, treeJson(result, exitCode));
    else if (opts.verbose) proc.stdout.write(`${describeTree(result)}\n`);
    if (result.interrupted && (result.stuckWorkers > 0 || (signals.caught === 'SIGHUP' && (proc.stdout.isTTY || proc.stderr.isTTY)))) {
      // A worker blocked in a system call (a FIFO, a hung filesystem) cannot be joined, and
      // Node waits for it at exit: die by the signal itself (the shell still sees 128+N).
      // Its file was unnamed (O_TMPFILE), so nothing is left behind.
      hangUp(proc, onSignal, signals.caught ?? 'SIGINT');
    }
    return exitCode;
  } finally {
    signals.release();
  }
}
