import { sendJson } from '../http/respond.js';
import type { Prewarmer } from '../prewarm/prewarmer.js';
import { describeJob } from '../prewarm/prewarm-job.js';
import type { ApiEndpoint } from './endpoint.js';
import { readJson } from './json-body.js';

/** The pre-warm calls of SPEC §8, for admins, in the API's one table. */
export function prewarmEndpoints(prewarmer: Prewarmer, maxBodyBytes: number): ApiEndpoint[] {
  return [
    {
      method: 'POST',
      pattern: ['prewarm'],
      who: 'admin',
      async handle({ req, res, auth }) {
        const { job, beyondCapacity: beyond } = await prewarmer.create(await readJson(req, maxBodyBytes), auth.identity.user);
        sendJson(res, 202, {
          ...describeJob(job),
          beyondCapacity: beyond,
          note: beyond > 0 ? `${beyond} of the users do not fit in the free workspace places now; unless places free up they will be skipped.` : null,
        });
      },
    },
    {
      method: 'GET',
      pattern: ['prewarm'],
      who: 'admin',
      handle: ({ res }) => sendJson(res, 200, { jobs: prewarmer.all().map((job) => ({ ...describeJob(job), users: undefined })) }),
    },
    {
      method: 'GET',
      pattern: ['prewarm', ':id'],
      who: 'admin',
      handle: ({ res, segments }) => sendJson(res, 200, describeJob(prewarmer.get(segments[1]!))),
    },
    {
      method: 'DELETE',
      pattern: ['prewarm', ':id'],
      who: 'admin',
      async handle({ res, segments }) {
        sendJson(res, 200, describeJob(await prewarmer.cancel(segments[1]!)));
      },
    },
  ];
}
