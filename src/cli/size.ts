/**
 * Size arguments: plain bytes, 0x hex, and suffixes K/M/G/T (powers of 1024, also KiB,
 * MiB, GiB, TiB) or KB/MB/GB/TB (powers of 1000). Parsed exactly with BigInt so that
 * "past 2^63-1" is caught rather than rounded.
 */

/** The largest offset the kernel accepts (loff_t is signed 64-bit). */
export const MAX_FILE_OFFSET = (1n << 63n) - 1n;

const MULTIPLIERS: Record<string, bigint> = {
  '': 1n,
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
  KIB: 1n << 10n,
  MIB: 1n << 20n,
  GIB: 1n << 30n,
  TIB: 1n << 40n,
  KB: 1000n,
  MB: 1000n ** 2n,
  GB: 1000n ** 3n,
  TB: 1000n ** 4n,
};

const SIZE_PATTERN = /^(0x[0-9a-f]+|[0-9]+)([a-z]*)$/i;

export class SizeError extends Error {
  override name = 'SizeError';
}

/** Parse a size; throws SizeError with a message fit for "invalid size 'x': <message>". */
export function parseSize(text: string): bigint {
  const m = SIZE_PATTERN.exec(text.trim());
  if (!m) {
    if (/^\s*-(0x)?[0-9]/i.test(text)) throw new SizeError('must not be negative');
    if (/^\s*[0-9]*\.[0-9]/.test(text)) throw new SizeError('must be a whole number of bytes');
    throw new SizeError('not a number (use bytes, 0x hex, or a suffix K, M, G, T, KiB... or KB, MB...)');
  }
  const multiplier = MULTIPLIERS[m[2]!.toUpperCase()];
  if (multiplier === undefined) throw new SizeError(`unknown suffix '${m[2]}' (use K, M, G, T, KiB, MiB, GiB, TiB, KB, MB, GB or TB)`);
  const value = BigInt(m[1]!) * multiplier;
  if (value > MAX_FILE_OFFSET) throw new SizeError(`larger than the largest file offset (2^63-1 = ${MAX_FILE_OFFSET})`);
  return value;
}

/** A byte count for display: "1.0 GiB", "512 MiB", "900 B". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(n)} B`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** A duration for display: "3 ms", "1.2 s". */
export function formatDuration(ms: number): string {
  // Under a millisecond, a tenth: "0 ms" next to a rate would read as a contradiction.
  if (ms < 0.95) return `${Math.max(0, ms).toFixed(1)} ms`;
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}
