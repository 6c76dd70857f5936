// The demo workspace server (images/demo-workspace/server.mjs), unchanged, in
// a process that also exits when the bench that started it goes away.
process.once('disconnect', () => process.exit(0));
await import('../images/demo-workspace/server.mjs');
