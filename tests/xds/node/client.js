// Node's gRPC (@grpc/grpc-js with @grpc/grpc-js-xds) as a real proxyless xDS client, for
// tests/xds/xds_clients_test.py.
//
//   GRPC_XDS_BOOTSTRAP=<bootstrap.json> node client.js xds:///<service>.<namespace>:<port>
//
// Calls /slicekeeper.test.Backend/Who (an empty request; the answer is the backend's id) in a
// loop on one channel and prints one line per call: the id, or "ERR <code>". Calls wait for the
// channel to be ready (at most 1 s each). Runs until the driver kills it.
'use strict';

const grpc = require('@grpc/grpc-js');
require('@grpc/grpc-js-xds').register();

const target = process.argv[2];
if (!target) {
  console.error('usage: node client.js xds:///<name>');
  process.exit(2);
}
const client = new grpc.Client(target, grpc.credentials.createInsecure());
const identity = (b) => b;

function call() {
  const deadline = new Date(Date.now() + 1000);
  // grpc-js takes wait-for-ready as a metadata option.
  const metadata = new grpc.Metadata({waitForReady: true});
  client.makeUnaryRequest('/slicekeeper.test.Backend/Who', identity, identity, Buffer.alloc(0),
      metadata, {deadline}, (err, reply) => {
        process.stdout.write(err ? `ERR ${err.code}\n` : `${reply.toString()}\n`);
        setImmediate(call);
      });
}
call();
