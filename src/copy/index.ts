export { copy, TEMP_PREFIX, DEDUPE_CHUNK_BYTES, DEDUPE_COMPARE_BYTES, DEDUPE_PIECE_BYTES, DIFFERING_RANGES_KEPT } from './copy.js';
export { CopyError, type CopyErrorKind } from './errors.js';
export { CANNOT_USE_METHOD_HERE, KERNEL_CHUNK_BYTES, READ_WRITE_BUFFER_BYTES } from './transfer.js';
export { resolveRange, splitForClone, alignmentProblem, rangesOverlap } from './range.js';
export type * from './types.js';
export { quotePath, pathText, type FilePath } from './paths.js';
