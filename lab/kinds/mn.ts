/**
 * `mn`: a mobile node, `lispwg xtr` in mode mn: an xTR on the host itself, its EID (usually a
 * /32) registered from whichever RLOC (Wi-Fi station or link) it has now. No forwarding.
 */
import type { Kind } from './kind.js';
import { eidLine, siteDaemon } from './lispwg.js';

export const mn: Kind = {
  name: 'mn',
  title: 'mobile node',
  forward: false,
  role: 'site',
  shape: (n, esc) => `(["${esc(`${n.name}<br/>MN${eidLine(n)}`)}"])`,
  daemon: siteDaemon('mn'),
};
