/** Who a verified token speaks for. */
export interface Identity {
  /** Always a valid user id (see user-id.ts), so it is safe in URLs and container names. */
  user: string;
  admin: boolean;
  /** Epoch ms of the token's `exp`; tokens without `exp` are refused, so this is finite in practice. */
  expiresAt: number;
}
