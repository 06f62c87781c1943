import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from './client.ts';
import { isConflict, isGone } from './errors.ts';
import { builtin, type Unstructured } from './resource.ts';
import { FakeApiServer } from './testing/fake-apiserver.ts';
import { type ServedFake, serveOverHttp } from './testing/serve-http.ts';
import { waitFor } from './testing/wait.ts';
import { jsonLines, KubeConfigTransport, type WatchEvent } from './transport.ts';

async function* chunks(...parts: string[]) {
  for (const p of parts) yield new TextEncoder().encode(p);
}

describe('jsonLines', () => {
  it('splits newline-delimited JSON across arbitrary chunk borders and drops a torn tail', async () => {
    const out: unknown[] = [];
    for await (const v of jsonLines(chunks('{"a":', '1}\n{"b"', ':2}\n\n{"c":3}\n{"torn'))) out.push(v);
    expect(out).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  it('decodes multi-byte characters split between chunks', async () => {
    const bytes = new TextEncoder().encode('{"z":"ä€"}\n');
    async function* split() {
      yield bytes.slice(0, 7);
      yield bytes.slice(7);
    }
    const out: unknown[] = [];
    for await (const v of jsonLines(split())) out.push(v);
    expect(out).toEqual([{ z: 'ä€' }]);
  });
});

describe('KubeConfigTransport over HTTP (client-node auth and fetch)', () => {
  let served: ServedFake | undefined;
  afterEach(async () => {
    await served?.close();
    served = undefined;
  });

  async function connect() {
    const api = new FakeApiServer([builtin.configMap, builtin.lease]);
    served = await serveOverHttp(api, 's3cret-token');
    const kc = new KubeConfig();
    kc.loadFromString(served.kubeconfig);
    return { api, client: new KubeClient(new KubeConfigTransport(kc)), served };
  }

  it('sends authenticated requests and maps error statuses', async () => {
    const { client, served } = await connect();
    const cm = await client.create<Unstructured>(builtin.configMap, {
      metadata: { name: 'a', namespace: 'n' },
    });
    expect(served.headers.at(-1)?.['authorization']).toBe('Bearer s3cret-token');
    await client.apply(builtin.configMap, { metadata: { name: 'a', namespace: 'n' }, data: { k: 'v' } });
    expect(served.headers.at(-1)?.['content-type']).toBe('application/apply-patch+yaml');
    await expect(client.update(builtin.configMap, { ...cm, data: { k: 'w' } })).rejects.toSatisfy(isConflict);
    expect((await client.get<Unstructured>(builtin.configMap, 'n', 'a'))['data']).toEqual({ k: 'v' });
  });

  it('streams watch events until the server closes, and surfaces an HTTP 410', async () => {
    const { api, client } = await connect();
    const events: WatchEvent<Unstructured>[] = [];
    const rv = api.resourceVersion;
    const done = (async () => {
      for await (const ev of client.watch<Unstructured>(builtin.configMap, {
        namespace: 'n',
        resourceVersion: rv,
      })) {
        events.push(ev);
        if (events.length === 2) api.closeWatches();
      }
    })();
    await waitFor('the watch to open', () => api.openWatches > 0);
    api.seed(builtin.configMap, { metadata: { name: 'x', namespace: 'n' } });
    api.remove(builtin.configMap, 'n', 'x');
    await done;
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED x', 'DELETED x']);

    api.compact();
    api.expiredWatch = 'http';
    const stream = client.watch(builtin.configMap, { resourceVersion: rv });
    await expect(
      (async () => {
        for await (const _ of stream) {
          /* drain */
        }
      })(),
    ).rejects.toSatisfy(isGone);
  });

  it('stops the stream when the caller aborts', async () => {
    const { api, client } = await connect();
    const stop = new AbortController();
    const done = (async () => {
      let n = 0;
      for await (const _ of client.watch(builtin.configMap, { signal: stop.signal })) n++;
      return n;
    })();
    await waitFor('the watch to open', () => api.openWatches > 0);
    stop.abort();
    expect(await done).toBe(0);
  });
});
