/**
 * Paths as the kernel sees them: bytes. A file name need not be UTF-8, so the engine takes
 * a Buffer wherever a string would lose bytes, and these helpers work on either form.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';

/** A path given to the engine: a string, or a Buffer for names that are not UTF-8. */
export type FilePath = string | Buffer;

const SLASH = 0x2f;

function trimTrailingSlashes(p: Buffer): Buffer {
  let end = p.length;
  while (end > 1 && p[end - 1] === SLASH) end--;
  return p.subarray(0, end);
}

/** The last component of `p`, as basename(1) gives it. */
export function baseName(p: FilePath): FilePath {
  if (typeof p === 'string') return path.basename(p);
  const t = trimTrailingSlashes(p);
  return t.subarray(t.lastIndexOf(SLASH) + 1);
}

/** Everything before the last component, as dirname(1) gives it. */
export function dirName(p: FilePath): FilePath {
  if (typeof p === 'string') return path.dirname(p);
  const t = trimTrailingSlashes(p);
  const i = t.lastIndexOf(SLASH);
  if (i < 0) return Buffer.from('.');
  return i === 0 ? Buffer.from('/') : t.subarray(0, i);
}

/** `dir/name` as cp writes it (no other normalisation); a Buffer if either part is one. */
export function joinPath(dir: FilePath, name: FilePath): FilePath {
  if (typeof dir === 'string' && typeof name === 'string') return dir.length === 0 || dir.endsWith('/') ? dir + name : `${dir}/${name}`;
  const d = Buffer.from(dir);
  const sep = d.length > 0 && d[d.length - 1] !== SLASH ? Buffer.from('/') : Buffer.alloc(0);
  return Buffer.concat([d, sep, Buffer.from(name)]);
}

/** The start of every temporary file's name: `.tscp-<12 hex digits>-<DEST's name>`. */
export const TEMP_PREFIX = '.tscp-';

/** Random bytes read ahead from /dev/urandom, handed out by randomHex(). */
let randomPool = Buffer.alloc(0);

/**
 * Random hex for the temporary file's name, from /dev/urandom (read 4 KiB at a time): its
 * first use costs 0.7 ms in a fresh process, where node:crypto or Web Crypto's
 * getRandomValues load Node's crypto and stream modules first, 7-8 ms (each timed in a
 * fresh process on this machine). Web Crypto where /dev/urandom cannot be read (a chroot
 * without /dev).
 */
export function randomHex(bytes: number): string {
  if (randomPool.length < bytes) {
    try {
      const fd = openSync('/dev/urandom', 'r');
      try {
        const fresh = Buffer.alloc(4096);
        randomPool = fresh.subarray(0, readSync(fd, fresh, 0, fresh.length, null));
      } finally {
        closeSync(fd);
      }
    } catch {
      randomPool = Buffer.alloc(0);
    }
    if (randomPool.length < bytes) return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
  }
  const taken = randomPool.subarray(0, bytes);
  randomPool = randomPool.subarray(bytes);
  return taken.toString('hex');
}

/** A fresh temporary name beside `dest`: the name says whose it is, the random part makes it unguessable. */
export function tempPathBeside(dest: FilePath): FilePath {
  return joinPath(dirName(dest), decorateName(`${TEMP_PREFIX}${randomHex(6)}-`, baseName(dest), 200));
}

/** `prefix + name + suffix`, keeping a Buffer name's bytes. */
export function decorateName(prefix: string, name: FilePath, maxBytes: number): FilePath {
  if (typeof name === 'string') {
    const bytes = Buffer.from(name);
    if (bytes.length <= maxBytes) return prefix + name;
    name = bytes;
  }
  return Buffer.concat([Buffer.from(prefix), name.subarray(0, maxBytes)]);
}

/** A path as text for results and JSON (bytes that are not UTF-8 become U+FFFD). */
export function pathText(p: FilePath): string {
  return typeof p === 'string' ? p : p.toString('utf8');
}

// Characters that would break a one-line message or mislead a reader.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f]/;

/**
 * A path quoted for a one-line message: 'name' normally; $'...' with \n, \t, \xHH escapes
 * when it holds control characters or bytes that are not UTF-8, as coreutils quotes them.
 */
export function quotePath(p: FilePath): string {
  const bytes = Buffer.from(p);
  const text = bytes.toString('utf8');
  const validUtf8 = Buffer.from(text).equals(bytes);
  if (validUtf8 && !UNSAFE.test(text)) {
    return text.includes("'") ? `'${text.replace(/'/g, "'\\''")}'` : `'${text}'`;
  }
  let out = '';
  const named: Record<number, string> = { 0x0a: '\\n', 0x09: '\\t', 0x0d: '\\r', 0x5c: '\\\\', 0x27: "\\'" };
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (named[b]) {
      out += named[b];
      i++;
      continue;
    }
    if (b < 0x20 || b === 0x7f) {
      out += `\\x${b.toString(16).padStart(2, '0')}`;
      i++;
      continue;
    }
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    // A multi-byte character stays as it is if it decodes cleanly; stray bytes are escaped.
    const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    const chunk = bytes.subarray(i, i + len);
    const ch = chunk.toString('utf8');
    if (len > 1 && chunk.length === len && !ch.includes('\ufffd')) {
      out += ch;
      i += len;
    } else {
      out += `\\x${b.toString(16)}`;
      i++;
    }
  }
  return `$'${out}'`;
}
