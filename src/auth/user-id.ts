/** The only form a user id may take anywhere: in a URL, a token, a container name. */
export const USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export const isUserId = (value: string): boolean => USER_ID.test(value);

/**
 * `/ws/me` (and `/api/workspaces/me`) is the caller's own workspace, so no
 * user may be called `me`: a token for `me` is refused, or `/ws/me/` would
 * send its holder to itself for ever.
 */
export const SELF_SEGMENT = 'me';
