/** Agent configs for unit tests: the smallest valid mobile node, as YAML. Test support only. */
export const MS_KEY = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';

export const MINIMAL_MN_YAML = `
name: mn1
mode: mn
eid-prefixes:
  - prefix: 198.18.100.1/32
rloc-interfaces:
  - name: eth0
map-server:
  address: 198.18.0.1
  control-address: 100.100.0.1
  public-key: ${MS_KEY}
  shared-key: secret
control:
  address: 100.100.0.2/16
eid-space: [198.18.64.0/18]
`;
