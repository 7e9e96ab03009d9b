import { readFileSync } from 'node:fs';

/**
 * The first ```yaml example in a module's header comment, without the comment's ` * ` margins:
 * config tests parse it, so the documented example stays valid. Test support.
 */
export function headerExample(module: URL): string {
  const src = readFileSync(module, 'utf8');
  const start = src.indexOf('```yaml') + '```yaml'.length + 1;
  return src
    .slice(start, src.indexOf('```', start))
    .split('\n')
    .map((l) => l.replace(/^ \* ?/, ''))
    .join('\n');
}
