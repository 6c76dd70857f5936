// The floor for a WebSocket relay written in Node: ten lines of `net` that
// pass bytes both ways with backpressure and nothing else (no HTTP, no auth,
// no frame reading). The bench's WebSocket echo puts it beside the gateway and
// nginx, so "what a Node relay can reach" is measured in the same run.
// Env: PORT, BACKEND_PORT. Reports {ready} over IPC; exits when the bench goes.
import { connect, createServer } from 'node:net';

process.once('disconnect', () => process.exit(0));
const pass = (from, to) =>
  from
    .on('data', (chunk) => to.write(chunk) || from.pause())
    .on('error', () => to.destroy())
    .on('close', () => to.destroy());
createServer({ noDelay: true }, (client) => {
  const upstream = connect({ port: Number(process.env.BACKEND_PORT), host: '127.0.0.1', noDelay: true });
  pass(client, upstream);
  pass(upstream, client);
  client.on('drain', () => upstream.resume());
  upstream.on('drain', () => client.resume());
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.({ ready: true }));
