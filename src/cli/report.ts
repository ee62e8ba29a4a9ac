/** The human one-line summary of a copy that -v prints. */
import { quotePath } from '../copy/paths.js';
import type { BytesByMethod, CopyResult, Fallback, Method } from '../copy/types.js';
import { formatBytes, formatDuration } from './size.js';

const METHOD_NAMES: Record<Method, string> = {
  reflink: 'reflink',
  copy_file_range: 'copy_file_range',
  sendfile: 'sendfile',
  read_write: 'read/write',
  dedupe: 'dedupe',
};

function refusals(fallbacks: Fallback[]): string {
  if (fallbacks.length === 0) return '';
  const each = fallbacks.map((f) =>
    f.errno === 'EOF' ? `${METHOD_NAMES[f.from]} stopped short (0 bytes before the end)` : `${METHOD_NAMES[f.from]} was refused (${f.errno})`,
  );
  return ` after ${each.join(' and ')}`;
}

/** What the bytes went through: "reflinked", "copied in-kernel (sendfile)", "1.0 MiB reflinked + 8 KiB read/write". */
function methods(r: CopyResult): string {
  const b = approximate(r.bytes);
  const parts: [number, string][] = [
    [b.reflinked, 'reflinked'],
    [b.deduplicated, 'deduplicated'],
    [b.copyFileRange, 'copied in-kernel (copy_file_range)'],
    [b.sendfile, 'copied in-kernel (sendfile)'],
    [b.readWrite, 'copied by read/write'],
  ];
  const used = parts.filter(([n]) => n > 0);
  if (r.mode === 'dedupe' && b.deduplicated === 0 && Number(r.totalBytes) > 0) return 'nothing deduplicated';
  if (used.length === 0) return Number(r.totalBytes) === 0 ? 'empty' : 'all holes';
  // One method for all of it needs no figure; a dedupe that left bytes unshared does.
  if (used.length === 1 && used[0]![0] + b.holes >= Number(r.totalBytes)) return used[0]![1];
  return used.map(([n, what]) => `${formatBytes(n)} ${what}`).join(' + ');
}

/** Byte counts as Numbers, for display (a bigint past 2^53 is shown rounded, as "8.0 PiB"). */
function approximate(b: BytesByMethod): { [K in keyof BytesByMethod]: number } {
  return {
    reflinked: Number(b.reflinked),
    copyFileRange: Number(b.copyFileRange),
    sendfile: Number(b.sendfile),
    readWrite: Number(b.readWrite),
    deduplicated: Number(b.deduplicated),
    holes: Number(b.holes),
  };
}

/** Differing ranges listed in a -v line; the rest are counted. */
export const DIFFERING_RANGES_SHOWN = 100;

/** "3 ranges (4.0 KiB) differ: [8388608, +1) [12288000, +100) [16777215, +1)", the first 100 listed. */
function differences(r: CopyResult): string | null {
  const count = r.differingRangeCount ?? 0;
  if (count === 0) return null;
  const ranges = r.differingRanges ?? [];
  const shown = ranges.slice(0, DIFFERING_RANGES_SHOWN).map((d) => `[${d.offset}, +${d.length})`);
  const more = count - shown.length;
  const bytes = Number(r.differingBytes ?? 0);
  const size = bytes < 1024 ? `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}` : formatBytes(bytes);
  const where = r.range ? ' (SOURCE offsets)' : '';
  return `${size} ${bytes === 1 ? 'differs' : 'differ'} in ${count} ${count === 1 ? 'range' : 'ranges'}${where}: ${shown.join(' ')}${more > 0 ? ` and ${more} more` : ''}`;
}

export function describeResult(r: CopyResult): string {
  // Offsets are printed exactly; sizes are rounded for reading anyway.
  const range = r.range ? ` [${r.range.srcOffset}+${r.range.length} -> ${r.range.dstOffset}]` : '';
  const b = approximate(r.bytes);
  const parts = [`${formatBytes(Number(r.totalBytes))}${range}`, `${methods(r)}${refusals(r.fallbacks)}`];
  if (b.holes > 0) parts.push(`${formatBytes(b.holes)} of holes kept`);
  // Measured with FIEMAP, not assumed: copy_file_range may or may not have shared extents.
  const couldShare = b.reflinked + b.copyFileRange + b.deduplicated > 0;
  const shared = r.sharedBytes === null ? null : Number(r.sharedBytes);
  if (shared === null) {
    if (couldShare) parts.push('sharing unknown (no FIEMAP)');
  } else if (couldShare || shared > 0) {
    // Sharing without a reflink (copy_file_range clones extents on XFS and btrfs) says who
    // shared, so "reflink was refused" next to "shared" does not read as a contradiction.
    const byKernelCopy = b.reflinked === 0 && b.deduplicated === 0;
    parts.push(shared > 0 ? `${formatBytes(shared)} shared with SOURCE${byKernelCopy ? ' (copy_file_range cloned the extents)' : ''}` : 'no extents shared');
  }
  const differ = differences(r);
  if (differ) parts.push(differ);
  parts.push(formatDuration(r.durationMs));
  // The rate of the bytes that really moved (shared extents and holes move nothing), over the
  // copy's whole time from open to rename: shown for every copy that moved bytes, so two
  // runs always compare. A short copy's rate is low next to a long one's, since opening and
  // renaming weigh more in its few milliseconds: that is what the copy took, not noise.
  const moved = b.copyFileRange + b.sendfile + b.readWrite;
  if (moved > 0 && r.durationMs > 0) parts.push(`${formatBytes((moved / r.durationMs) * 1000)}/s`);
  return `${quotePath(r.source)} -> ${quotePath(r.dest)}: ${parts.join(', ')}`;
}
