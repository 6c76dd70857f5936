import type { Identity } from '../auth/identity.js';

/** What the gateway knows of a request as it goes: its id for the logs, and who asked once that is known. */
export interface RequestContext {
  id: string;
  identity?: Identity;
}
