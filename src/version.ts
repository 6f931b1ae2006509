// A static JSON import, so a bundle (build.ts) carries the version instead of looking for a
// package.json next to its chunks at run time.
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
