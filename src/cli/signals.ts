/**
 * The process's side of signals and the shape of the process tscp runs in: shared by the
 * start-up path (entry.ts), single copies and trees, and light enough to load before
 * anything else.
 */

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

export const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
export const HANDLED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * The line after a single copy was interrupted, the same from the quick way and the engine:
 * what reached DEST, and what that leaves there (`destState`). Sources and dests come quoted.
 */
export function interruptedLine(signal: string, bytes: bigint | number | string, quotedSource: string, quotedDest: string, destState: string): string {
  return `interrupted by ${signal} after ${bytes} bytes of ${quotedSource} -> ${quotedDest}; ${destState}`;
}

/**
 * Signals abort the copy at its next chunk (so temporary files are removed and DEST stays
 * as it was) instead of Node dying mid-write. `caught` is the first signal received.
 */
export function catchSignals(proc: Proc): { controller: AbortController; onSignal: (s: NodeJS.Signals) => void; caught?: NodeJS.Signals; release(): void } {
  const controller = new AbortController();
  const state = {
    controller,
    caught: undefined as NodeJS.Signals | undefined,
    onSignal: (signal: NodeJS.Signals) => {
      state.caught ??= signal;
      controller.abort(signal);
    },
    release: () => {
      for (const s of HANDLED_SIGNALS) proc.off?.(s, state.onSignal);
    },
  };
  for (const s of HANDLED_SIGNALS) proc.on?.(s, state.onSignal);
  return state;
}

/**
 * After a hang-up of the terminal tscp writes to, the cleanup done, die by SIGHUP itself
 * (the shell still sees 129): Node 20 aborts when it exits normally after its terminal is
 * gone, trying to restore the terminal's settings (nodejs/node#51519). Without a terminal
 * there is nothing to restore, and tscp exits 129 normally.
 */
export function hangUp(proc: Proc, handler: (signal: NodeJS.Signals) => void, signal: NodeJS.Signals = 'SIGHUP'): void {
  if (proc.kill === undefined || proc.pid === undefined) return;
  for (const s of HANDLED_SIGNALS) proc.off?.(s, handler);
  proc.kill(proc.pid, signal);
}
