import { readFileSync } from 'node:fs';
import { besideModule } from '../copy/cross-thread.js';

/** tscp's version, from its package.json (read at run time: the build does not copy it). */
export function packageVersion(packageJson: string | URL): string {
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

/**
 * This tscp's version. package.json lies two levels above this module in both builds
 * (src/cli/, dist/cli/ and the bundle's dist/bin/).
 */
export function tscpVersion(): string {
  return packageVersion(besideModule('../../package.json', import.meta.url));
}
