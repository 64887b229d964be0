// An @kubernetes/client-node informer on every EndpointSlice, driven over stdin/stdout by
// k8s_clients_test.py (one JSON object per line).
//
// Usage: node informer.mjs http://127.0.0.1:<port>
// Prints {"event":"started"} once the informer has listed; then, for each line "dump" read on
// stdin, {"event":"dump","lists":N,"errors":[...],"objects":{"<ns>/<name>":{"rv":..,
// "addresses":[...]}}}. Exits when stdin closes.
import * as k8s from '@kubernetes/client-node';
import { createInterface } from 'node:readline';

const kc = new k8s.KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'slicekeeper', server: process.argv[2], skipTLSVerify: true }],
  users: [{ name: 'anonymous' }],
  contexts: [{ name: 'slicekeeper', cluster: 'slicekeeper', user: 'anonymous' }],
  currentContext: 'slicekeeper',
});
const api = kc.makeApiClient(k8s.DiscoveryV1Api);
let lists = 0;
const errors = [];
const informer = k8s.makeInformer(kc, '/apis/discovery.k8s.io/v1/endpointslices', () => {
  lists++;
  return api.listEndpointSliceForAllNamespaces();
});
informer.on('error', (err) => {
  errors.push(String(err));
  // As an application would: keep the informer running.
  setTimeout(() => informer.start(), 200);
});

function dump() {
  const objects = {};
  for (const o of informer.list()) {
    objects[`${o.metadata.namespace}/${o.metadata.name}`] = {
      rv: o.metadata.resourceVersion,
      addresses: (o.endpoints || []).map((e) => e.addresses[0]),
    };
  }
  return { event: 'dump', lists, errors, objects };
}

// Listening before "started" is printed: the test writes its first command right after it.
const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() === 'dump') console.log(JSON.stringify(dump()));
});
input.on('close', () => process.exit(0));
await informer.start();
console.log(JSON.stringify({ event: 'started' }));
