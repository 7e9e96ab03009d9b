/**
 * `xtr`: a LISP site's tunnel router, `lispwg xtr` in mode xtr: registers its EID prefixes with
 * its Map-Server and forwards for the site behind it. Up when its admin socket exists.
 */
import type { Kind } from './kind.js';
import { eidLine, siteDaemon } from './lispwg.js';

export const xtr: Kind = {
  name: 'xtr',
  title: 'xTR',
  forward: true,
  role: 'site',
  shape: (n, esc) => `[/"${esc(`${n.name}<br/>xTR${eidLine(n)}`)}"\\]`,
  daemon: siteDaemon('xtr'),
};
