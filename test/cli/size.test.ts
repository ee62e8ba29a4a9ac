import t from 'tap';
import { parseSize, SizeError, MAX_FILE_OFFSET, formatBytes } from '../../src/cli/size.js';

t.test('plain, hex and suffixed sizes', async (t) => {
  t.equal(parseSize('0'), 0n);
  t.equal(parseSize('4096'), 4096n);
  t.equal(parseSize('0x1000'), 4096n);
  t.equal(parseSize('4K'), 4096n);
  t.equal(parseSize('4KiB'), 4096n);
  t.equal(parseSize('1M'), 1048576n);
  t.equal(parseSize('2G'), 2n << 30n);
  t.equal(parseSize('1T'), 1n << 40n);
  t.equal(parseSize('1KB'), 1000n);
  t.equal(parseSize('3MB'), 3_000_000n);
  t.equal(parseSize('1GB'), 1_000_000_000n);
  t.equal(parseSize('1TB'), 1_000_000_000_000n);
  t.equal(parseSize('9223372036854775807'), MAX_FILE_OFFSET);
});

t.test('bad sizes are refused', async (t) => {
  for (const bad of ['-1', '1.5', '1.5K', 'abc', '', '4X', '9223372036854775808', '8E', '0x8000000000000000', '16777216T']) {
    t.throws(() => parseSize(bad), SizeError, bad);
  }
});

t.test('formatBytes', async (t) => {
  t.equal(formatBytes(900), '900 B');
  t.equal(formatBytes(1024 ** 3), '1.0 GiB');
  t.equal(formatBytes(512 * 1024 ** 2), '512 MiB');
});
