/**
 * tscp as a library:
 *
 *     import { copy } from 'tscp';
 *     const result = await copy('big.img', '/mnt/backup/', { mode: 'auto' });
 *     console.log(result.bytes.reflinked, result.fallbacks);
 *
 * `copy` never writes to the console and never exits the process: it resolves with a
 * CopyResult or rejects with a CopyError. `copyTree` copies trees and several sources as
 * cp -r / cp -a does, over worker threads.
 */
export { copy, CopyError, TEMP_PREFIX, KERNEL_CHUNK_BYTES, READ_WRITE_BUFFER_BYTES, type FilePath } from './copy/index.js';
export type {
  ByteRange,
  BytesByMethod,
  CopyErrorKind,
  CopyMode,
  CopyOptions,
  CopyResult,
  DifferingRange,
  Fallback,
  Method,
  Reporter,
} from './copy/index.js';
export { copyTree, copyPlanned, planOperands, defaultJobs, OperandError, type Plan } from './tree/copy-tree.js';
export type {
  Dereference,
  EntryKind,
  EntryResult,
  Preserve,
  TreeCounts,
  TreeError,
  TreeOptions,
  TreeReporter,
  TreeResult,
  Update,
} from './tree/types.js';
export { SysError, linuxSys, type Sys, type FileStat, type Extent, type DedupeResult } from './sys/index.js';
