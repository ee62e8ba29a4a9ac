#!/usr/bin/env node
// CommonJS (bin/package.json): Node starts it without its ES-module loader (src/cli/entry.ts).
require('../dist/bin/entry.cjs')
  .main(process)
  .then((code) => {
    process.exitCode = code;
  });
