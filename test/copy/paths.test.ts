/**
 * Temporary names: randomHex() gives the hex of fresh random bytes (from /dev/urandom, read
 * ahead 4 KiB at a time), never the same twice in a run.
 */
import t from 'tap';
import { randomHex } from '../../src/copy/paths.js';

t.test('randomHex: hex of the asked length, fresh each time, past the read-ahead pool', async (t) => {
  const seen = new Set<string>();
  // 4096 bytes are read at a time: 2000 names of 6 bytes drain it about three times.
  for (let i = 0; i < 2000; i++) {
    const h = randomHex(6);
    if (!/^[0-9a-f]{12}$/.test(h)) {
      t.fail(`not 12 hex digits: ${h}`);
      return;
    }
    seen.add(h);
  }
  t.equal(seen.size, 2000, '2000 names, all different');
  t.match(randomHex(32), /^[0-9a-f]{64}$/, 'a longer one too');
});
