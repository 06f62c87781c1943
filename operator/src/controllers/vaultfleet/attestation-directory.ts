// The operator's calls to the fleet's KeyDirectory for an attestation, by pod IP (kd-contract:
// never through ClusterIPs): the witness countersigns, the publisher takes the change, a reader
// (or the publisher) serves the lookup proof. Only Ready pods are asked; the port is the pod's
// container port named `http` (8080 by the contract). Every call has a timeout and a bounded answer.

import type { DirectoryLookupJson } from '@keyfleet/sdk/attestation/bundle';
import type { DsseEnvelope } from '@keyfleet/sdk/attestation/dsse';
import type { V1Pod } from '@kubernetes/client-node';
import { labelValue } from '../../specs/names.ts';

export const DIRECTORY_HTTP_PORT = 8080;
export const DIRECTORY_CALL_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 2 * 1024 * 1024;
/** The media type the witness's countersign endpoint takes (directory-node attestation-countersign.ts). */
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';

export type DirectoryComponent = 'publisher' | 'reader' | 'witness';

const COMPONENT_LABEL = 'app.kubernetes.io/component';
const INSTANCE_LABEL = 'app.kubernetes.io/instance';

function isReady(pod: V1Pod): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  );
}

/** Base URLs of the KeyDirectory's Ready pods of one component, by pod name. */
export function readyDirectoryUrls(
  pods: readonly V1Pod[],
  keyDirectory: string,
  component: DirectoryComponent,
): string[] {
  return pods
    .filter(
      (p) =>
        p.metadata?.labels?.[INSTANCE_LABEL] === labelValue(keyDirectory) &&
        p.metadata?.labels?.[COMPONENT_LABEL] === component &&
        isReady(p) &&
        (p.status?.podIP ?? '') !== '',
    )
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
    .map((p) => {
      const ip = p.status?.podIP as string;
      const port =
        p.spec?.containers?.flatMap((c) => c.ports ?? []).find((x) => x.name === 'http')?.containerPort ??
        DIRECTORY_HTTP_PORT;
      return ip.includes(':') ? `http://[${ip}]:${port}` : `http://${ip}:${port}`;
    });
}

/** A directory answer that was not a success: the HTTP status and the `{error:{code,message}}`. */
export class DirectoryCallError extends Error {
  override readonly name = 'DirectoryCallError';
  readonly status: number;
  readonly code: string;
  constructor(what: string, status: number, code: string, message: string) {
    super(`${what}: HTTP ${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

async function call(
  what: string,
  url: string,
  init: { method: 'GET' | 'POST'; body?: string; contentType?: string },
  signal?: AbortSignal,
): Promise<{ status: number; json: unknown }> {
  const timeout = AbortSignal.timeout(DIRECTORY_CALL_TIMEOUT_MS);
  const res = await fetch(url, {
    method: init.method,
    redirect: 'error',
    headers: init.contentType ? { 'content-type': init.contentType } : {},
    ...(init.body !== undefined ? { body: init.body } : {}),
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  const text = await res.text();
  if (text.length > MAX_ANSWER_BYTES)
    throw new Error(`${what}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new DirectoryCallError(what, res.status, 'not_json', text.slice(0, 200));
  }
  if (res.status >= 300) {
    const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    throw new DirectoryCallError(
      what,
      res.status,
      String(e?.code ?? 'error'),
      String(e?.message ?? '').slice(0, 500),
    );
  }
  return { status: res.status, json };
}

/** POST /v1/attestations/countersign on a witness: its countersignature envelope (unchecked JSON). */
export async function requestCountersignature(
  witnessUrl: string,
  envelope: DsseEnvelope,
  signal?: AbortSignal,
) {
  const { json } = await call(
    'witness countersign',
    `${witnessUrl}/v1/attestations/countersign`,
    { method: 'POST', body: JSON.stringify(envelope), contentType: DSSE_MEDIA_TYPE },
    signal,
  );
  return json;
}

/** POST /v1/changes on the publisher: queued (202) or already queued (200, same requestId). */
export async function postDirectoryChange(
  publisherUrl: string,
  change: { username: string; value: string; requestId: string },
  signal?: AbortSignal,
): Promise<void> {
  await call(
    'directory change',
    `${publisherUrl}/v1/changes`,
    { method: 'POST', body: JSON.stringify(change), contentType: 'application/json' },
    signal,
  );
}

/** GET /v1/lookup of `label`: the response verbatim, or undefined while the label is not logged. */
export async function lookupLabel(
  readerUrl: string,
  label: string,
  signal?: AbortSignal,
): Promise<DirectoryLookupJson | undefined> {
  try {
    const { json } = await call(
      'directory lookup',
      `${readerUrl}/v1/lookup?username=${encodeURIComponent(label)}`,
      { method: 'GET' },
      signal,
    );
    return json as DirectoryLookupJson;
  } catch (e) {
    if (e instanceof DirectoryCallError && e.status === 404) return undefined;
    throw e;
  }
}
