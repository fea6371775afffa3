// swarmd's name and version, as `-v` prints them and /stats?mode=version reports them.

import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION = `swarmd ${pkg.version}`;
