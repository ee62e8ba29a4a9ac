/**
 * Exact byte arithmetic. Offsets and sizes reach 2^63-1 on XFS and btrfs (loff_t), past
 * the 2^53-1 a Number holds exactly, so the engine counts in bigint; what it reports is a
 * Number while that is exact (what callers and JSON readers expect) and a bigint beyond.
 */

/** A byte count or offset in a result: a number up to 2^53-1, a bigint past it. */
export type ByteCount = number | bigint;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function byteCount(n: bigint): ByteCount {
  return n <= MAX_SAFE && n >= -MAX_SAFE ? Number(n) : n;
}

export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** A chunk bound (a Number) applied to what remains (a bigint): the smaller, as a Number. */
export function chunkOf(remaining: bigint, chunk: number): number {
  return remaining < BigInt(chunk) ? Number(remaining) : chunk;
}

/** a + b, exact: Numbers while the sum stays exact (the usual case), else a bigint. */
export function addByteCounts(a: ByteCount, b: ByteCount): ByteCount {
  if (typeof a === 'number' && typeof b === 'number' && Number.isSafeInteger(a + b)) return a + b;
  return byteCount(BigInt(a) + BigInt(b));
}
