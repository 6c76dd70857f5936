import { ForbiddenError } from '../errors.js';
import type { Identity } from './identity.js';

/**
 * Who may do what, in one place. Opening a workspace is stricter than
 * managing it: every workspace is served on the gateway's one origin, so an
 * admin's browser opening a student's page would run the student's script
 * with the admin's cookie (README, "Admin access").
 */

/** The owner; admins too only where admin workspace access is on. */
export function mayOpenWorkspace(identity: Identity, user: string, adminWorkspaceAccess: boolean): boolean {
  return identity.user === user || (identity.admin && adminWorkspaceAccess);
}

/** Start, stop, back up, follow a spawn: the owner or an admin. */
export function mayManage(identity: Identity, user: string): boolean {
  return identity.user === user || identity.admin;
}

export function requireAdmin(identity: Identity): void {
  if (!identity.admin) throw new ForbiddenError('Only admins may do this.', 'admin_only');
}
