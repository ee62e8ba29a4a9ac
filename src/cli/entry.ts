/**
 * Where the tscp command starts (bin/tscp.js). Built into one CommonJS file
 * (dist/bin/entry.cjs, see package.json's bundle scripts) holding only this, the quick way
 * and the signal helpers: a plain `tscp SOURCE DEST` is done (quick-copy.ts) before
 * commander, the engine or koffi would load. Everything else goes to main.ts, loaded then
 * (dist/bin/main.js, CommonJS too: Node's ES-module loader is never started).
 */
import { INTERRUPT_GRACE_MS } from '../copy/cross-thread.js';
import { quotePath } from '../copy/paths.js';
import { EXIT_OK, EXIT_SIGNAL_BASE } from './exit-codes.js';
import { plainOperands, quickCopy } from './quick-copy.js';
import { SIGNAL_NUMBERS, catchSignals, hangUp, interruptedLine, type Proc } from './signals.js';
import { tscpVersion } from './version.js';

/** Run tscp with `proc.argv`; resolves with the exit status (the caller sets it). */
export async function main(proc: Proc): Promise<number> {
  const args = proc.argv.slice(2);
  // `tscp --version` answers before loading anything else (start-up is all it costs).
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    proc.stdout.write(`${tscpVersion()}\n`);
    return EXIT_OK;
  }
  const plain = plainOperands(args);
  if (plain) {
    try {
      const exitCode = await tryQuickCopy(proc, plain);
      if (exitCode !== undefined) return exitCode;
    } catch (err) {
      const { internalError } = await import('./main.js');
      return internalError(proc, err);
    }
  }
  return (await import('./main.js')).main(proc);
}

/**
 * The quick way: its exit status, or undefined when it declined (nothing was made) and the
 * engine is to copy. Interrupted, it says so in the engine's words.
 */
async function tryQuickCopy(proc: Proc, plain: NonNullable<ReturnType<typeof plainOperands>>): Promise<number | undefined> {
  const signals = catchSignals(proc);
  try {
    const outcome = await quickCopy(plain.source, plain.dest, {
      umask: process.umask(),
      progressWanted: () => plain.progress ?? Boolean(proc.stderr.isTTY),
      signal: signals.controller.signal,
      graceMs: INTERRUPT_GRACE_MS,
    });
    if (outcome.kind === 'declined') return undefined;
    if (outcome.kind === 'copied') return EXIT_OK;
    const signal = signals.caught ?? 'SIGINT';
    const { outputChoices } = await import('./main.js');
    const { paint } = await outputChoices(proc, {});
    proc.stderr.write(`${paint.error('tscp:')} ${interruptedLine(signal, outcome.bytesWritten, quotePath(plain.source), quotePath(outcome.dest), 'DEST left as it was')}\n`);
    // The pool's copy still runs and Node would wait for it at exit: die by the signal.
    if (!outcome.settled || (signal === 'SIGHUP' && proc.stderr.isTTY)) hangUp(proc, signals.onSignal, signal);
    return EXIT_SIGNAL_BASE + (SIGNAL_NUMBERS[signal] ?? 2);
  } finally {
    signals.release();
  }
}
