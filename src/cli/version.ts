import { readFileSync } from 'node:fs';

/** tscp's version, from its package.json (read at run time: the build does not copy it). */
export function packageVersion(packageJson: string | URL): string {
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}
