/** What the CLI prints for a tree copy: -v lines per path, and the --json document. */
import { quotePath } from '../copy/paths.js';
import type { CopyResult } from '../copy/types.js';
import type { EntryResult, TreeResult } from '../tree/types.js';
import { describeResult } from './report.js';
import { formatBytes, formatDuration } from './size.js';

/** One -v line for a finished path, as cp -v words it, with the method for files. */
export function describeEntry(e: EntryResult): string {
  const arrow = `${quotePath(e.source)} -> ${quotePath(e.dest)}`;
  if (e.action === 'skipped') return `skipped ${quotePath(e.dest)} (${e.reason})`;
  if (e.action === 'linked') return `${arrow} (hard link)`;
  if (e.kind === 'file' && e.bytes) {
    const asCopy: CopyResult = {
      source: e.source,
      dest: e.dest,
      mode: 'auto',
      range: null,
      totalBytes: e.totalBytes ?? 0,
      bytes: e.bytes,
      fallbacks: e.fallbacks ?? [],
      sharedBytes: e.sharedBytes ?? null,
      inPlace: false,
      durationMs: e.durationMs ?? 0,
    };
    return describeResult(asCopy);
  }
  if (e.kind === 'directory') return arrow;
  return `${arrow} (${e.kind === 'symlink' ? 'symbolic link' : e.kind})`;
}

/** The closing -v line: what the whole run did. */
export function describeTree(r: TreeResult): string {
  const c = r.counts;
  const parts = [`${c.files} files`, `${c.directories} directories`];
  if (c.symlinks) parts.push(`${c.symlinks} symlinks`);
  if (c.hardLinks) parts.push(`${c.hardLinks} hard links`);
  if (c.specials) parts.push(`${c.specials} special files`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  if (c.failed || r.errors.length) parts.push(`${r.errors.length} errors`);
  const b = r.bytes;
  const how = [
    [b.reflinked, 'reflinked'],
    [b.copyFileRange, 'copy_file_range'],
    [b.sendfile, 'sendfile'],
    [b.readWrite, 'read/write'],
    [b.deduplicated, 'deduplicated'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, what]) => `${formatBytes(n as number)} ${what}`);
  return `${parts.join(', ')}; ${formatBytes(r.totalBytes)}${how.length ? ` (${how.join(', ')})` : ''}; ${r.jobs} workers, ${formatDuration(r.durationMs)}`;
}

/** The --json document of a tree copy (schema 1, `"kind": "tree"`; README and tscp(1)). */
export interface TreeJsonReport {
  schema: 1;
  kind: 'tree';
  ok: boolean;
  exitCode: number;
  sources: string[];
  dest: string;
  mode: string;
  counts: TreeResult['counts'];
  totalBytes: number;
  bytes: TreeResult['bytes'];
  fallbacks: TreeResult['fallbacks'];
  errors: TreeResult['errors'];
  interrupted: boolean;
  jobs: number;
  durationMs: number;
}

export function treeJson(r: TreeResult, exitCode: number): TreeJsonReport {
  return {
    schema: 1,
    kind: 'tree',
    ok: r.ok,
    exitCode,
    sources: r.sources,
    dest: r.dest,
    mode: r.mode,
    counts: r.counts,
    totalBytes: r.totalBytes,
    bytes: r.bytes,
    fallbacks: r.fallbacks,
    errors: r.errors,
    interrupted: r.interrupted,
    jobs: r.jobs,
    durationMs: Math.round(r.durationMs * 1000) / 1000,
  };
}
