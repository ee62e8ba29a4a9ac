/**
 * Small helpers shared by the benchmark suite: running commands, statistics, sizes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** The repository root (bench/lib/ is two levels down). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'tscp.js');
export const NODE = process.execPath;

/**
 * Let the event loop turn: the measured runs use spawnSync, so without this a signal's
 * handler (cleanup on SIGINT/SIGTERM) would only run once the whole suite had finished.
 */
export function turn() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Run a command that must succeed; returns its stdout. Throws with its stderr otherwise. */
export function sh(cmd, args, options = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
  } catch (err) {
    const stderr = err.stderr ? String(err.stderr).trim() : '';
    throw new Error(`${cmd} ${args.join(' ')} failed${stderr ? `: ${stderr}` : `: ${err.message}`}`);
  }
}

/** Run a command whose failure does not matter; returns its exit status. */
export function shQuiet(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status;
}

/** Whether `cmd` can be found on PATH (or is an executable path). */
export function which(cmd) {
  if (cmd.includes('/')) {
    try {
      fs.accessSync(cmd, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  return spawnSync('sh', ['-c', `command -v -- '${cmd}'`], { stdio: 'ignore' }).status === 0;
}

export function median(values) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function min(values) {
  return values.length ? Math.min(...values) : null;
}

export function max(values) {
  return values.length ? Math.max(...values) : null;
}

/** Round to `digits` decimals (null stays null). */
export function round(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return x ?? null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function formatMs(ms) {
  if (ms === null || ms === undefined) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

/** Flush dirty data of every filesystem (what each run starts from). */
export function syncAll() {
  sh('sync', []);
}

/** sync, then drop the page cache, dentries and inodes (the --drop-caches mode). */
export function dropCaches() {
  syncAll();
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

/** Bytes allocated on disk (st_blocks * 512). */
export function allocatedBytes(file) {
  return fs.statSync(file).blocks * 512;
}

/** Remove files that may not exist. */
export function removeFiles(files) {
  for (const f of files) fs.rmSync(f, { force: true });
}

/**
 * Write `size` pseudo-random bytes to `file` quickly: one 64 MiB random block, each copy
 * of it salted with its offset so no two blocks are equal (no filesystem or cache can
 * deduplicate or compress them away).
 */
export function writeRandomFile(file, size) {
  const block = Math.min(size, 64 * MiB);
  const base = randomFillSync(Buffer.alloc(block));
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < size; off += block) {
      const len = Math.min(block, size - off);
      // Salt every 4 KiB block of this copy with its file offset.
      for (let b = 0; b < len; b += 4096) base.writeDoubleLE(off + b, b);
      let written = 0;
      while (written < len) written += fs.writeSync(fd, base, written, len - written, off + written);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A sparse file of `size` bytes holding `dataBytes` of random data in `segments` equal
 * segments spread evenly (each at the start of its 1/segments slice); the rest are holes.
 */
export function writeSparseFile(file, size, dataBytes, segments) {
  const seg = Math.floor(dataBytes / segments);
  const stride = Math.floor(size / segments);
  const buf = Buffer.alloc(seg);
  const fd = fs.openSync(file, 'w');
  try {
    for (let i = 0; i < segments; i++) {
      randomFillSync(buf);
      const at = i * stride;
      let written = 0;
      while (written < seg) written += fs.writeSync(fd, buf, written, seg - written, at + written);
    }
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Byte-for-byte comparison with cmp(1); optional skips and length for ranges. */
export function sameBytes(a, b, { skipA = 0, skipB = 0, length } = {}) {
  const args = ['-s', `--ignore-initial=${skipA}:${skipB}`];
  if (length !== undefined) args.push(`--bytes=${length}`);
  args.push(a, b);
  return spawnSync('cmp', args, { stdio: 'ignore' }).status === 0;
}
