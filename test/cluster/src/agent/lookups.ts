// API reads a pod's sandbox needs: ConfigMaps, Secrets, service-account tokens, claimed volumes.
import type { Kube, Obj } from '../kube.ts';
import type { RefLookup } from './env.ts';
import type { VolumeLookups } from './volumes.ts';

type Data = Obj & { data?: Record<string, string>; binaryData?: Record<string, string> };

export type PodLookups = RefLookup & VolumeLookups;

/** The lookups of one pod (its namespace; tokens bound to the pod). */
export function podLookups(kube: Kube, ns: string, pod: string, uid: string): PodLookups {
  return {
    async configMap(name) {
      const cm = await kube.getOrUndefined<Data>(`/api/v1/namespaces/${ns}/configmaps/${name}`);
      if (!cm) return undefined;
      const out: Record<string, string> = { ...(cm.data ?? {}) };
      for (const [k, v] of Object.entries(cm.binaryData ?? {}))
        out[k] = Buffer.from(v, 'base64').toString('utf8');
      return out;
    },
    async secret(name) {
      const s = await kube.getOrUndefined<Data>(`/api/v1/namespaces/${ns}/secrets/${name}`);
      if (!s) return undefined;
      return Object.fromEntries(
        Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
      );
    },
    async secretBytes(name) {
      const s = await kube.getOrUndefined<Data>(`/api/v1/namespaces/${ns}/secrets/${name}`);
      if (!s) return undefined;
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    },
    async token(serviceAccount, audience, expirationSeconds) {
      const res = await kube.create<{ status: { token: string } }>(
        `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: audience ? [audience] : [],
            expirationSeconds,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid },
          },
        },
      );
      return res.status.token;
    },
    async claimPath(claimName) {
      const pvc = await kube.get<Obj & { spec: { volumeName?: string } }>(
        `/api/v1/namespaces/${ns}/persistentvolumeclaims/${claimName}`,
      );
      if (!pvc.spec.volumeName) throw new Error(`persistentvolumeclaim ${claimName} is not bound yet`);
      const pv = await kube.get<Obj & { spec: { local?: { path: string }; hostPath?: { path: string } } }>(
        `/api/v1/persistentvolumes/${pvc.spec.volumeName}`,
      );
      const path = pv.spec.local?.path ?? pv.spec.hostPath?.path;
      if (!path) throw new Error(`persistentvolume ${pvc.spec.volumeName} is neither local nor hostPath`);
      return path;
    },
  };
}
