// Signed admin calls to a vault member (what the operator does, and the local fleet launcher).
import { signAdminRequest } from './admin-signature.ts';
import { ADMIN_AUTH_SCHEME, ADMIN_NONCE_HEADER, ADMIN_TIMESTAMP_HEADER } from './contract.ts';

export class AdminCallError extends Error {
  override name = 'AdminCallError';
  readonly status: number;
  readonly body: unknown;
  constructor(method: string, path: string, status: number, body: unknown) {
    const message = (body as { error?: { message?: string } } | null)?.error?.message ?? `HTTP ${status}`;
    super(`${method} ${path}: ${message}`);
    this.status = status;
    this.body = body;
  }
}

export class VaultAdminClient {
  readonly #baseUrl: string;
  readonly #secretKey: Uint8Array;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, operatorAdminSecretKey: Uint8Array, o: { timeoutMs?: number } = {}) {
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
    this.#secretKey = operatorAdminSecretKey;
    this.#timeoutMs = o.timeoutMs ?? 10_000;
  }

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const bytes = body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
    const { timestamp, nonce, signature } = signAdminRequest(this.#secretKey, method, path, bytes);
    const res = await fetch(this.#baseUrl + path, {
      method,
      headers: {
        authorization: `${ADMIN_AUTH_SCHEME} ${signature}`,
        [ADMIN_TIMESTAMP_HEADER]: String(timestamp),
        [ADMIN_NONCE_HEADER]: nonce,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: bytes }),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await res.text();
    const parsed: unknown = text === '' ? null : JSON.parse(text);
    if (!res.ok) throw new AdminCallError(method, path, res.status, parsed);
    return parsed as T;
  }
}
