/**
 * Shared pieces of the engine's unit tests: injecting errnos through a Sys that wraps
 * linuxSys (only to reach faults no filesystem produces on demand).
 */
import type { CopyError } from '../../src/copy/errors.js';
import { SysError, errnoNumber, linuxSys, type Sys } from '../../src/sys/index.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** The part of a tap Test that registers clean-up. */
export interface Teardown {
  teardown(fn: () => void): void;
}

/** A SysError as the sys layer would raise it for `code`. */
export function sysError(code: string, syscall: string): SysError {
  const n = errnoNumber(code);
  if (n === undefined) throw new Error(`unknown errno ${code}`);
  return new SysError(n, syscall);
}

/** The error a promise rejects with, or undefined if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<CopyError | undefined> {
  try {
    await p;
  } catch (err) {
    return err as CopyError;
  }
  return undefined;
}

/** copy_file_range moving at most `max` bytes per call, as the kernel may. */
export function capped(max: number, base: Sys = linuxSys): Sys['copyFileRange'] {
  return (fdIn, offIn, fdOut, offOut, len) => base.copyFileRange(fdIn, offIn, fdOut, offOut, Math.min(len, max));
}
