#!/usr/bin/env node
/**
 * One sweep point, in its own process: import the built library, copy SOURCE to DEST with
 * the given tuning, print one JSON line { ms, bytes, fallbacks } on stdout.
 *
 *   node bench/sweep-child.js '{"src":"a","dst":"b","mode":"auto","kernelChunkBytes":33554432}'
 *
 * "forceReadWrite": true wraps the system-call layer so copy_file_range and sendfile refuse
 * (EXDEV, EINVAL) before any byte: the engine's own fallback then copies with read/write,
 * exactly as it does where the kernel refuses both.
 */
import { copy, linuxSys, SysError } from '../dist/index.js';

const EXDEV = 18;
const EINVAL = 22;

const spec = JSON.parse(process.argv[2]);
let sys = linuxSys;
if (spec.forceReadWrite) {
  sys = {
    ...linuxSys,
    copyFileRange: () => {
      throw new SysError(EXDEV, 'copy_file_range');
    },
    sendfile: () => {
      throw new SysError(EINVAL, 'sendfile');
    },
  };
}
const started = performance.now();
const result = await copy(spec.src, spec.dst, {
  mode: spec.mode ?? 'auto',
  kernelChunkBytes: spec.kernelChunkBytes,
  readWriteBufferBytes: spec.readWriteBufferBytes,
  sys,
});
const ms = performance.now() - started;
process.stdout.write(`${JSON.stringify({ ms, bytes: result.bytes, fallbacks: result.fallbacks })}\n`);
