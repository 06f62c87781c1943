// Shared by `keyfleet lookup|history|audit`: the flags that say which directory to trust, and
// a small HTTP client for its reader API with a timeout and a size limit on every response.
import { readFileSync, statSync } from 'node:fs';
import { DirectoryVerificationError } from '../directory/errors.ts';
import {
  type DirectoryTrust,
  type HeadTrust,
  MAX_TRUST_FILE_BYTES,
  namespace,
  parseTrustFile,
  signingPublicKey,
  TrustInputError,
  vrfKey,
} from '../directory/trust.ts';
import { checkProofHead, type VerifiedHead, verifySignedHead } from '../directory/verify.ts';
import { parseEpochHeadJson, type SignedEpochHead } from '../directory/wire.ts';
import { type CommandContext, UsageError } from './command.ts';

export const DEFAULT_TIMEOUT_MS = 30_000;
/** The directory's limit on usernames (directory-node/src/api/validate.ts). */
export const MAX_USERNAME_BYTES = 256;
export const MAX_TIMEOUT_MS = 10 * 60_000;
/** Response limits per kind: heads are tiny; a lookup proof is ~10 KiB; histories and audit blobs grow. */
export const RESPONSE_LIMITS = {
  head: 64 * 1024,
  lookup: 2 * 1024 * 1024,
  history: 96 * 1024 * 1024,
  audit: 256 * 1024 * 1024,
} as const;

export const TRUST_USAGE = [
  '  --url URL            base URL of a directory reader (http or https)',
  '  --signing-key HEX    the directory publisher Ed25519 public key (signs epoch heads)',
  '  --vrf-key HEX        the directory VRF public key',
  '  --namespace NAME     require epoch heads of this namespace',
  '  --trust FILE         read the keys (and namespace) from a JSON file shaped like GET /v1/info',
  `  --timeout-ms N       per request (default ${DEFAULT_TIMEOUT_MS})`,
  '  --json               print the result as JSON',
].join('\n');

export interface DirectoryOptions<T extends HeadTrust = DirectoryTrust> {
  readonly url: URL;
  readonly trust: T;
  readonly timeoutMs: number;
}

function flag(context: CommandContext, name: string): string | undefined {
  const v = context.flags.get(name);
  if (v === true || v === '') throw new UsageError(`--${name} needs a value`);
  return v;
}

/** A non-negative decimal integer flag, or undefined when absent. */
export function integerFlag(
  context: CommandContext,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const raw = flag(context, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^[0-9]{1,16}$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer in ${min}..${max}`);
  }
  return n;
}

function readTrustFile(file: string): DirectoryTrust {
  let text: string;
  try {
    if (statSync(file).size > MAX_TRUST_FILE_BYTES)
      throw new UsageError(`${file} is larger than ${MAX_TRUST_FILE_BYTES} bytes`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read the trust file ${file}: ${(e as Error).message}`);
  }
  return parseTrustFile(text);
}

/**
 * Reads --url, the trust flags (or --trust FILE; flags given as well must agree with it) and
 * --timeout-ms. Audits check only signed heads and hashes, so they need no VRF key.
 */
export function directoryOptions(context: CommandContext): DirectoryOptions;
export function directoryOptions(context: CommandContext, needVrfKey: false): DirectoryOptions<HeadTrust>;
export function directoryOptions(context: CommandContext, needVrfKey = true): DirectoryOptions<HeadTrust> {
  const rawUrl = flag(context, 'url');
  if (rawUrl === undefined) throw new UsageError('--url <directory reader URL> is required');
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(rawUrl)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('--url must be http or https');
  if (url.username !== '' || url.password !== '') throw new UsageError('--url must not carry credentials');
  try {
    const file = flag(context, 'trust');
    const fromFile = file === undefined ? undefined : readTrustFile(file);
    const signingHex = flag(context, 'signing-key');
    const vrfHex = flag(context, 'vrf-key');
    const ns = flag(context, 'namespace');
    const signing = signingHex === undefined ? fromFile?.signingPublicKey : signingPublicKey(signingHex);
    const vrf = vrfHex === undefined ? fromFile?.vrfPublicKey : vrfKey(vrfHex);
    if (signing === undefined) throw new UsageError('--signing-key <hex> or --trust <file> is required');
    if (vrf === undefined && needVrfKey)
      throw new UsageError('--vrf-key <hex> or --trust <file> is required');
    const disagree = (a: Uint8Array | undefined, b: Uint8Array) =>
      a !== undefined && Buffer.compare(a, b) !== 0;
    if (
      fromFile !== undefined &&
      (disagree(fromFile.signingPublicKey, signing) ||
        (vrf !== undefined && disagree(fromFile.vrfPublicKey, vrf)))
    ) {
      throw new UsageError('a key given as a flag differs from the one in the trust file');
    }
    const trustedNamespace = ns === undefined ? fromFile?.namespace : namespace(ns);
    if (fromFile?.namespace !== undefined && trustedNamespace !== fromFile.namespace) {
      throw new UsageError('--namespace differs from the namespace in the trust file');
    }
    const timeoutMs = integerFlag(context, 'timeout-ms', 1, MAX_TIMEOUT_MS) ?? DEFAULT_TIMEOUT_MS;
    const heads: HeadTrust = { signingPublicKey: signing, namespace: trustedNamespace };
    const full: DirectoryTrust | undefined = vrf === undefined ? undefined : { ...heads, vrfPublicKey: vrf };
    return { url, trust: full ?? heads, timeoutMs };
  } catch (e) {
    if (e instanceof TrustInputError) throw new UsageError(e.message);
    throw e;
  }
}

/** The directory could not be asked, or answered with an HTTP error: nothing was verified. */
export class FetchError extends Error {
  override readonly name = 'FetchError';
}

/** GETs JSON from the directory; `undefined` for 404. Aborts past `maxBytes` or the timeout. */
export async function getJson(
  options: Pick<DirectoryOptions, 'url' | 'timeoutMs'>,
  path: string,
  maxBytes: number,
): Promise<unknown | undefined> {
  const url = new URL(
    path.replace(/^\//, ''),
    options.url.href.endsWith('/') ? options.url : `${options.url.href}/`,
  );
  const signal = AbortSignal.timeout(options.timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/json' } });
  } catch (e) {
    throw new FetchError(`GET ${url.pathname}${url.search}: ${describeFetchError(e, options.timeoutMs)}`);
  }
  const what = `GET ${url.pathname}${url.search}`;
  const body = await readLimited(res, maxBytes, what, options.timeoutMs);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new FetchError(`${what}: HTTP ${res.status}${errorDetail(body)}`);
  try {
    return JSON.parse(body);
  } catch {
    throw new DirectoryVerificationError('response', `${what}: the response is not JSON`);
  }
}

async function readLimited(
  res: Response,
  maxBytes: number,
  what: string,
  timeoutMs: number,
): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new DirectoryVerificationError(
      'response',
      `${what}: the response of ${declared} bytes is larger than the ${maxBytes} allowed`,
    );
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body?.getReader();
  try {
    for (;;) {
      const chunk = await reader?.read();
      if (chunk === undefined || chunk.done) break;
      total += chunk.value.length;
      if (total > maxBytes) {
        await reader?.cancel();
        throw new DirectoryVerificationError(
          'response',
          `${what}: the response is larger than the ${maxBytes} bytes allowed`,
        );
      }
      chunks.push(chunk.value);
    }
  } catch (e) {
    if (e instanceof DirectoryVerificationError) throw e;
    throw new FetchError(`${what}: ${describeFetchError(e, timeoutMs)}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeFetchError(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = err?.cause?.code ?? err?.cause?.message;
  return `${err?.message ?? String(e)}${cause ? ` (${cause})` : ''}`;
}

/** The directory's `{error:{code,message}}`, shortened, for the failure line. */
function errorDetail(body: string): string {
  try {
    const e = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof e?.code === 'string' && typeof e.message === 'string')
      return `: ${e.code}: ${e.message.slice(0, 300)}`;
  } catch {}
  return '';
}

/** Prints why nothing (or not everything) was verified and returns exit code 1. */
export function reportFailure(context: CommandContext, command: string, error: unknown): number {
  if (!(error instanceof DirectoryVerificationError) && !(error instanceof FetchError)) throw error;
  const check = error instanceof DirectoryVerificationError ? error.check : 'fetch';
  if (context.json) context.out(JSON.stringify({ verified: false, check, reason: error.message }, null, 2));
  context.err(`keyfleet ${command}: NOT VERIFIED (${check}): ${error.message}`);
  return 1;
}

/** Fetches and verifies the signed head of `epoch` (a number or 'latest'). */
export async function fetchVerifiedHead(
  options: DirectoryOptions<HeadTrust>,
  epoch: number | 'latest',
): Promise<VerifiedHead> {
  const what = epoch === 'latest' ? 'the latest epoch head' : `the epoch head of epoch ${epoch}`;
  const raw = await getJson(options, `v1/epochs/${epoch}`, RESPONSE_LIMITS.head);
  if (raw === undefined) {
    throw new FetchError(
      epoch === 'latest'
        ? 'the directory has not published any epoch yet'
        : `the directory has not published epoch ${epoch}`,
    );
  }
  const head = verifySignedHead(parseEpochHeadJson(raw, what), options.trust, what);
  if (epoch !== 'latest' && head.epoch !== epoch) {
    throw new DirectoryVerificationError(
      'epoch-head',
      `asked for epoch ${epoch}, the directory answered with the signed head of epoch ${head.epoch}`,
    );
  }
  return head;
}

/** --user NAME: a username of 1..256 UTF-8 bytes, as the directory accepts. */
export function userFlag(context: CommandContext): string {
  const user = flag(context, 'user');
  if (user === undefined) throw new UsageError('--user <name> is required');
  const bytes = new TextEncoder().encode(user).length;
  if (!user.isWellFormed() || bytes > MAX_USERNAME_BYTES) {
    throw new UsageError(`--user must be well-formed Unicode of at most ${MAX_USERNAME_BYTES} UTF-8 bytes`);
  }
  return user;
}

/**
 * How lookup and history start: the latest signed head, then the user's proof response from
 * `path`, whose own signed head must verify and be no older than the latest (nor `minEpoch`).
 */
export async function fetchUserProof<T extends { readonly head: SignedEpochHead }>(
  options: DirectoryOptions,
  request: { path: string; maxBytes: number; parse: (raw: unknown, maxBytes: number) => T },
  user: string,
  minEpoch: number,
): Promise<{ latest: VerifiedHead; head: VerifiedHead; response: T }> {
  const latest = await fetchVerifiedHead(options, 'latest');
  const raw = await getJson(options, request.path, request.maxBytes);
  if (raw === undefined) {
    throw new FetchError(
      `the directory says it has no key for ${JSON.stringify(user)} (HTTP 404, not a proof)`,
    );
  }
  const response = request.parse(raw, request.maxBytes);
  const head = verifySignedHead(response.head, options.trust, "the proof's epoch head");
  checkProofHead(latest, head, minEpoch);
  return { latest, head, response };
}
