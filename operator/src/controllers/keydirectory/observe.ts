// Observation of a directory: pods from the informer cache, then the writer's newest epoch head
// and queue depth and each witness's progress, asked over HTTP by pod IP (the operator may run
// outside the cluster network's Service routing). Every call has a timeout and a size limit, and
// a failure becomes part of the observation, never an exception: status reports it.

import type { KeyDirectory } from '@keyfleet/sdk/api/index';
import type { EpochHeadJson } from '@keyfleet/sdk/directory/wire';
import type { V1Pod } from '@kubernetes/client-node';
import { directoryNames, WITNESS_LABEL } from '../../specs/directory/names.ts';
import { DIRECTORY_PORT } from '../../specs/directory/workloads.ts';
import { Label } from '../../specs/labels.ts';
import type { DirectoryObservation, ObservedPod, ObservedWitness } from './observed.ts';

export const HTTP_TIMEOUT_MS = 3_000;
const MAX_BODY_BYTES = 256 * 1024;

/** GET a JSON document; `undefined` for 404. Injected so tests need no network. */
export type JsonGetter = (url: string) => Promise<unknown>;

export const fetchJson: JsonGetter = async (url) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS), redirect: 'error' });
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url}: HTTP ${res.status}`);
  }
  const text = await res.text();
  if (text.length > MAX_BODY_BYTES) throw new Error(`${url}: answer larger than ${MAX_BODY_BYTES} bytes`);
  return JSON.parse(text) as unknown;
};

export function observePod(pod: V1Pod): ObservedPod {
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const ip = pod.status?.podIP;
  return {
    name: pod.metadata?.name ?? '',
    ready: ready && pod.metadata?.deletionTimestamp === undefined,
    terminating: pod.metadata?.deletionTimestamp !== undefined,
    ...(ip ? { ip } : {}),
  };
}

const baseUrl = (ip: string) => `http://${ip.includes(':') ? `[${ip}]` : ip}:${DIRECTORY_PORT}`;

function epochHead(v: unknown): EpochHeadJson | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const h = v as Partial<EpochHeadJson>;
  if (
    !Number.isSafeInteger(h.epoch) ||
    typeof h.rootHash !== 'string' ||
    !Number.isSafeInteger(h.timestamp)
  ) {
    throw new Error('the writer answered an epoch head without epoch, rootHash or timestamp');
  }
  return v as EpochHeadJson;
}

function pendingOf(v: unknown): number | undefined {
  const pending = (v as { pending?: unknown } | undefined)?.pending;
  return Number.isSafeInteger(pending) ? (pending as number) : undefined;
}

type WitnessNamespaces = {
  namespaces?: { name?: string; lastVerifiedEpoch?: unknown; refusal?: { reason?: unknown } }[];
};

async function askWitness(
  get: JsonGetter,
  url: string,
  directory: string,
): Promise<Pick<ObservedWitness, 'lastVerifiedEpoch' | 'halted' | 'unreachable'>> {
  try {
    const answer = (await get(`${url}/namespaces`)) as WitnessNamespaces | undefined;
    const ns = answer?.namespaces?.find((n) => n.name === directory);
    if (ns === undefined) return { unreachable: `the witness does not follow ${directory}` };
    const epoch = Number.isSafeInteger(ns.lastVerifiedEpoch) ? (ns.lastVerifiedEpoch as number) : undefined;
    const reason = ns.refusal?.reason;
    return {
      ...(epoch === undefined ? {} : { lastVerifiedEpoch: epoch }),
      ...(typeof reason === 'string' ? { halted: reason.slice(0, 512) } : {}),
    };
  } catch (e) {
    return { unreachable: (e as Error).message.slice(0, 512) };
  }
}

export interface ObserveInput {
  readonly kd: KeyDirectory;
  readonly pods: readonly V1Pod[];
  /** witness pod name → hex public key, from the key Secrets */
  readonly witnessKeys: ReadonlyMap<string, string>;
  readonly get: JsonGetter;
}

export async function observeDirectory(
  input: ObserveInput,
): Promise<Omit<DirectoryObservation, 'epochChangedAtMs'>> {
  const { kd, pods, get } = input;
  const directory = `${kd.metadata.namespace}/${kd.metadata.name}`;
  const of = (component: string) => pods.filter((p) => p.metadata?.labels?.[Label.component] === component);
  const publishers = of('publisher').map(observePod);
  const readers = of('reader').map(observePod);
  const writerPod = publishers.find((p) => p.ready && p.ip !== undefined);

  let head: EpochHeadJson | undefined;
  let pendingChanges: number | undefined;
  let writerError: string | undefined;
  if (writerPod?.ip !== undefined) {
    try {
      head = epochHead(await get(`${baseUrl(writerPod.ip)}/v1/epochs/latest`));
      pendingChanges = pendingOf(await get(`${baseUrl(writerPod.ip)}/v1/changes/pending`));
    } catch (e) {
      writerError = (e as Error).message.slice(0, 512);
    }
  }

  const names = directoryNames(kd);
  const witnessPods = new Map(of('witness').map((p) => [p.metadata?.labels?.[WITNESS_LABEL], p]));
  const witnesses: ObservedWitness[] = [];
  for (let i = 0; i < kd.spec.witnesses; i++) {
    const name = names.witnessPod(i);
    const pod = witnessPods.get(String(i));
    const seen = pod === undefined ? undefined : observePod(pod);
    const publicKey = input.witnessKeys.get(name);
    const base = { name, ...(publicKey === undefined ? {} : { publicKey }) };
    if (seen?.ip === undefined) {
      witnesses.push({
        ...base,
        unreachable: seen === undefined ? 'no witness pod' : 'the witness pod has no IP yet',
      });
      continue;
    }
    witnesses.push({ ...base, ...(await askWitness(get, baseUrl(seen.ip), directory)) });
  }
  for (const ext of kd.spec.externalWitnesses ?? []) {
    const url = ext.url.replace(/\/+$/, '');
    witnesses.push({
      name: ext.name,
      publicKey: ext.publicKey,
      ...(await askWitness(get, url, directory)),
    });
  }
  return {
    publishers,
    readers,
    ...(writerPod === undefined ? {} : { writer: writerPod.name }),
    ...(head === undefined ? {} : { head }),
    ...(pendingChanges === undefined ? {} : { pendingChanges }),
    ...(writerError === undefined ? {} : { writerError }),
    witnesses,
  };
}
