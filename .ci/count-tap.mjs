// Reads TAP (tap 21's `-R tap` output) on stdin and prints "N passed, N failed, N skipped",
// counting leaf test points only: a subtest's own summary line is not counted again.
import { Parser } from 'tap-parser';

const totals = { pass: 0, fail: 0, skip: 0, todo: 0 };
const failures = [];

function watch(parser) {
  let openChildren = 0;
  parser.on('child', (child) => {
    openChildren++;
    watch(child);
  });
  parser.on('assert', (res) => {
    if (openChildren > 0) {
      openChildren--;
      // A whole subtest skipped (or a file with no tests) counts as one skip.
      if (res.skip) {
        totals.skip++;
        return;
      }
      // A subtest that failed without any failing leaf (a thrown error, a timeout) still counts.
      if (!res.ok && !res.todo && !res.skip && res.diag && (res.diag.error || res.diag.signal || res.diag.exitCode)) {
        totals.fail++;
        failures.push(res.fullname || res.name);
      }
      return;
    }
    if (res.todo) totals.todo++;
    else if (res.skip) totals.skip++;
    else if (res.ok) totals.pass++;
    else {
      totals.fail++;
      failures.push(res.fullname || res.name);
    }
  });
}

const parser = new Parser();
watch(parser);
parser.on('complete', (final) => {
  if (!final.ok && totals.fail === 0) {
    // The run failed in a way no test point shows (bail out, crash): never report green.
    totals.fail++;
    failures.push('the TAP stream itself reported failure');
  }
  for (const f of failures) console.log(`failed: ${f}`);
  console.log(`${totals.pass} passed, ${totals.fail} failed, ${totals.skip} skipped`);
});
process.stdin.pipe(parser);
