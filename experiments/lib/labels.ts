/** The variants' names as every figure and table shows them (the paper's names in brackets). */
const VARIANT_LABELS: Record<string, string> = {
  'lisp-wg': 'LISP+WG, lispwg (OOR+WG)',
  'lisp-wg-drop': 'LISP+WG, drop while resolving (as OOR+WG)',
  lisp: 'plain LISP, lispwg as OOR (OOR)',
  oor: 'the real OOR',
  'lisp-push': "plain LISP with lispwg's pushes",
  'lisp-buffer': 'plain LISP, buffering',
  grpc: 'gRPC control channel',
  ipsec: 'IPsec ChaCha20-Poly1305',
  plain: 'no tunnel (routing only)',
  pull: 'pull on demand (lispwg)',
  push: 'push every key to every node',
  'data-plane-only': 'WireGuard roaming alone',
};

export const labelsFor = (...variants: string[]): Record<string, string> =>
  Object.fromEntries(variants.map((v) => [v, VARIANT_LABELS[v] ?? v]));
