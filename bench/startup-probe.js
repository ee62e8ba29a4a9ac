#!/usr/bin/env node
/**
 * Start-up probes, each run in a fresh process by bench/lib/startup.js.
 *
 *   node bench/startup-probe.js STEP
 *
 * STEP: empty (an ES module that imports nothing), commander, cli (dist/cli/main.js: the
 * command-line module and whatever it imports at load time), bundle (dist/bin/main.js, the
 * same bundled by esbuild, as bin/tscp.js loads it), koffi, engine (dist/index.js: the engine, which
 * imports koffi but binds nothing), bind (the engine plus the libc bindings: koffi.load and
 * the function declarations), or timeline: all of them in order in this one process,
 * printing as JSON when each finished (ms since the process started) and Node's own
 * bootstrap marks, then the first system call the copy makes.
 */
const step = process.argv[2] ?? 'empty';

async function importCommander() {
  await import('commander');
}
async function importCli() {
  await import('../dist/cli/main.js');
}
async function importKoffi() {
  await import('koffi');
}
async function importBundle() {
  await import('../dist/bin/main.js');
}
async function importEngine() {
  await import('../dist/index.js');
}
async function bind() {
  const { libc } = await import('../dist/sys/libc.js');
  libc();
}

const steps = { commander: importCommander, cli: importCli, bundle: importBundle, koffi: importKoffi, engine: importEngine, bind };

if (step === 'timeline') {
  const t = performance.nodeTiming;
  const marks = [
    ['node: V8 started', t.v8Start],
    ['node: environment ready', t.environment],
    ['node: bootstrap complete', t.bootstrapComplete],
    ['this script running', performance.now()],
  ];
  await importCommander();
  marks.push(['+ import commander', performance.now()]);
  await importCli();
  marks.push(['+ import dist/cli/main.js (the CLI module)', performance.now()]);
  const { main } = await import('../dist/cli/main.js');
  // What --version does: commander parses, prints, returns.
  const sink = { write: () => true };
  await main({ argv: ['node', 'tscp', '--version'], env: {}, stdout: sink, stderr: sink });
  marks.push(['+ main(--version) parsed and printed', performance.now()]);
  await importKoffi();
  marks.push(['+ import koffi', performance.now()]);
  await importEngine();
  marks.push(['+ import dist/index.js (engine)', performance.now()]);
  const { libc } = await import('../dist/sys/libc.js');
  libc();
  marks.push(['+ koffi.load(libc) and bindings', performance.now()]);
  const { linuxSys } = await import('../dist/index.js');
  // The first copy-related system call of a real run (lseek on stdin-independent fd 0 is
  // avoided: fstat of a freshly opened file).
  const fd = linuxSys.open(process.execPath, 0);
  linuxSys.lseek(fd, 0, 3);
  linuxSys.close(fd);
  marks.push(['+ first syscalls through koffi (open, lseek SEEK_DATA)', performance.now()]);
  process.stdout.write(`${JSON.stringify(marks.map(([label, ms]) => ({ label, ms })))}\n`);
} else if (step !== 'empty') {
  const fn = steps[step];
  if (!fn) {
    process.stderr.write(`unknown step ${step}\n`);
    process.exit(2);
  }
  await fn();
}
