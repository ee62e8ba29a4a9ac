// sys/errors.js, not sys/index.js: the CLI's main thread rebuilds CopyErrors sent by its copy
// worker, and must not load the native bindings to do so.
import { SysError, errnoMessage } from '../sys/errors.js';
import { pathText, quotePath, type FilePath } from './paths.js';
import type { ByteCount, BytesByMethod, CopyResult, Fallback } from './types.js';

/**
 * Why a copy failed:
 * - `usage`: the request itself is invalid (bad range, unsupported combination);
 * - `same-file`: SOURCE and DEST are one file;
 * - `differs`: --dedupe found the contents differ (the original design's EILSEQ);
 * - `interrupted`: the caller's AbortSignal fired;
 * - `source-changed`: SOURCE changed size while it was being copied;
 * - `exists`: DEST exists and `noClobber` forbade replacing it;
 * - `system`: a system call failed (see `code`).
 */
export type CopyErrorKind = 'usage' | 'same-file' | 'differs' | 'interrupted' | 'source-changed' | 'exists' | 'system';

export interface CopyErrorDetails {
  kind: CopyErrorKind;
  /** The verb for the message: "copy", "reflink" or "dedupe". */
  verb: string;
  source: FilePath;
  dest: FilePath;
  /** Errno name when the failure has one. */
  code?: string;
  /** Human text after the paths; defaults to strerror(code). */
  reason?: string;
  /**
   * What failed, when it concerns one path rather than the copy from one to the other
   * (cp's words: "cannot stat 'a'", "cannot create regular file 'b/'"); replaces
   * "cannot <verb> 'a' to 'b'" in the message.
   */
  headline?: string;
  /** Bytes that reached DEST before the failure. */
  bytesCopied?: ByteCount;
  fallbacks?: Fallback[];
  /** Bytes by method up to the failure. */
  bytes?: BytesByMethod;
  /**
   * Kind `differs`: what the dedupe did before saying so, with the differing ranges
   * (bytes deduplicated, sharedBytes measured with FIEMAP, differingRanges).
   */
  result?: CopyResult;
  cause?: unknown;
}

/** A copy that failed; `message` is the one line the CLI prints after "tscp: ". */
export class CopyError extends Error {
  readonly kind: CopyErrorKind;
  readonly code?: string;
  /** SOURCE and DEST as text (bytes that are not UTF-8 shown as U+FFFD). */
  readonly source: string;
  readonly dest: string;
  /** SOURCE and DEST quoted for a one-line message ('a', or $'a\nb' for odd names). */
  readonly quotedSource: string;
  readonly quotedDest: string;
  /** SOURCE and DEST exactly as given. */
  readonly paths: [FilePath, FilePath];
  readonly bytesCopied: ByteCount;
  readonly fallbacks: Fallback[];
  readonly bytes?: BytesByMethod;
  readonly result?: CopyResult;
  readonly verb: string;
  readonly reason?: string;
  readonly headline?: string;

  constructor(d: CopyErrorDetails) {
    const reason = d.reason ?? (d.code ? errnoMessage(d.code) : 'failed');
    const suffix = d.code ? ` (${d.code})` : '';
    const from = quotePath(d.source);
    const to = quotePath(d.dest);
    const message =
      d.kind === 'same-file' ? `${from} and ${to} are the same file` : `${d.headline ?? `cannot ${d.verb} ${from} to ${to}`}: ${reason}${suffix}`;
    super(message, { cause: d.cause });
    this.name = 'CopyError';
    this.kind = d.kind;
    this.code = d.code;
    this.source = pathText(d.source);
    this.dest = pathText(d.dest);
    this.quotedSource = from;
    this.quotedDest = to;
    this.paths = [d.source, d.dest];
    this.bytesCopied = d.bytesCopied ?? 0;
    this.fallbacks = d.fallbacks ?? [];
    this.bytes = d.bytes;
    this.result = d.result;
    this.verb = d.verb;
    this.reason = d.reason;
    this.headline = d.headline;
  }

  /** Wrap a SysError from a system call into a CopyError naming the two paths. */
  static fromSys(err: SysError, verb: string, source: FilePath, dest: FilePath, progress: Partial<CopyErrorDetails> = {}): CopyError {
    return new CopyError({ kind: 'system', verb, source, dest, code: err.code, cause: err, ...progress });
  }
}

/** The details a CopyError was built from, to rebuild it with more facts. */
export function detailsOf(e: CopyError): CopyErrorDetails {
  return {
    kind: e.kind,
    verb: e.verb,
    source: e.paths[0],
    dest: e.paths[1],
    code: e.code,
    reason: e.reason,
    headline: e.headline,
    bytesCopied: e.bytesCopied,
    fallbacks: e.fallbacks,
    bytes: e.bytes,
    result: e.result,
    cause: e.cause,
  };
}
