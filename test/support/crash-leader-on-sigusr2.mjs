// Loaded into the built gateway before main.js (`node --import <this>
// dist/main.js`): on SIGUSR2 the cluster's leader throws an exception nobody
// catches, as any bug on the leader would. cluster.fork() passes --import on
// to the workers, which leave the signal alone.
import cluster from 'node:cluster';

if (cluster.isPrimary) {
  process.on('SIGUSR2', () =>
    setImmediate(() => {
      throw new Error('simulated leader crash');
    }),
  );
}
