import { SysError, errnoMessage } from '../sys/index.js';
import type { BytesByMethod, Fallback } from './types.js';

/**
 * Why a copy failed:
 * - `usage`: the request itself is invalid (bad range, unsupported combination);
 * - `same-file`: SOURCE and DEST are one file;
 * - `differs`: --dedupe found the contents differ (the original design's EILSEQ);
 * - `interrupted`: the caller's AbortSignal fired;
 * - `source-changed`: SOURCE changed size while it was being copied;
 * - `system`: a system call failed (see `code`).
 */
export type CopyErrorKind = 'usage' | 'same-file' | 'differs' | 'interrupted' | 'source-changed' | 'system';

export interface CopyErrorDetails {
  kind: CopyErrorKind;
  /** The verb for the message: "copy", "reflink" or "dedupe". */
  verb: string;
  source: string;
  dest: string;
  /** Errno name when the failure has one. */
  code?: string;
  /** Human text after the paths; defaults to strerror(code). */
  reason?: string;
  /** Bytes that reached DEST before the failure. */
  bytesCopied?: number;
  fallbacks?: Fallback[];
  /** Bytes by method up to the failure. */
  bytes?: BytesByMethod;
  cause?: unknown;
}

/** A copy that failed; `message` is the one line the CLI prints after "tscp: ". */
export class CopyError extends Error {
  readonly kind: CopyErrorKind;
  readonly code?: string;
  readonly source: string;
  readonly dest: string;
  readonly bytesCopied: number;
  readonly fallbacks: Fallback[];
  readonly bytes?: BytesByMethod;
  readonly verb: string;
  readonly reason?: string;

  constructor(d: CopyErrorDetails) {
    const reason = d.reason ?? (d.code ? errnoMessage(d.code) : 'failed');
    const suffix = d.code ? ` (${d.code})` : '';
    const message =
      d.kind === 'same-file'
        ? `'${d.source}' and '${d.dest}' are the same file`
        : `cannot ${d.verb} '${d.source}' to '${d.dest}': ${reason}${suffix}`;
    super(message, { cause: d.cause });
    this.name = 'CopyError';
    this.kind = d.kind;
    this.code = d.code;
    this.source = d.source;
    this.dest = d.dest;
    this.bytesCopied = d.bytesCopied ?? 0;
    this.fallbacks = d.fallbacks ?? [];
    this.bytes = d.bytes;
    this.verb = d.verb;
    this.reason = d.reason;
  }

  /** Wrap a SysError from a system call into a CopyError naming the two paths. */
  static fromSys(err: SysError, verb: string, source: string, dest: string, progress: Partial<CopyErrorDetails> = {}): CopyError {
    return new CopyError({ kind: 'system', verb, source, dest, code: err.code, cause: err, ...progress });
  }
}

/** The details a CopyError was built from, to rebuild it with more facts. */
export function detailsOf(e: CopyError): CopyErrorDetails {
  return {
    kind: e.kind,
    verb: e.verb,
    source: e.source,
    dest: e.dest,
    code: e.code,
    reason: e.reason,
    bytesCopied: e.bytesCopied,
    fallbacks: e.fallbacks,
    bytes: e.bytes,
    cause: e.cause,
  };
}
