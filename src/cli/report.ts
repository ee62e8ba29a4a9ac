/** The human one-line summary of a copy that -v prints. */
import { quotePath } from '../copy/paths.js';
import type { CopyResult, Fallback, Method } from '../copy/types.js';
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
  const b = r.bytes;
  const parts: [number, string][] = [
    [b.reflinked, 'reflinked'],
    [b.deduplicated, 'deduplicated'],
    [b.copyFileRange, 'copied in-kernel (copy_file_range)'],
    [b.sendfile, 'copied in-kernel (sendfile)'],
    [b.readWrite, 'copied by read/write'],
  ];
  const used = parts.filter(([n]) => n > 0);
  if (used.length === 0) return r.totalBytes === 0 ? 'empty' : 'all holes';
  if (used.length === 1) return used[0]![1];
  return used.map(([n, what]) => `${formatBytes(n)} ${what}`).join(' + ');
}

export function describeResult(r: CopyResult): string {
  const range = r.range ? ` [${r.range.srcOffset}+${r.range.length} -> ${r.range.dstOffset}]` : '';
  const parts = [`${formatBytes(r.totalBytes)}${range}`, `${methods(r)}${refusals(r.fallbacks)}`];
  if (r.bytes.holes > 0) parts.push(`${formatBytes(r.bytes.holes)} of holes kept`);
  // Measured with FIEMAP, not assumed: copy_file_range may or may not have shared extents.
  const couldShare = r.bytes.reflinked + r.bytes.copyFileRange + r.bytes.deduplicated > 0;
  if (r.sharedBytes === null) {
    if (couldShare) parts.push('sharing unknown (no FIEMAP)');
  } else if (couldShare || r.sharedBytes > 0) {
    parts.push(r.sharedBytes > 0 ? `${formatBytes(r.sharedBytes)} shared with SOURCE` : 'no extents shared');
  }
  parts.push(formatDuration(r.durationMs));
  const moved = r.bytes.copyFileRange + r.bytes.sendfile + r.bytes.readWrite;
  if (moved > 0 && r.durationMs >= 50) parts.push(`${formatBytes((moved / r.durationMs) * 1000)}/s`);
  return `${quotePath(r.source)} -> ${quotePath(r.dest)}: ${parts.join(', ')}`;
}
