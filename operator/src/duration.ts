// Go-style durations (`1m30s`, `500ms`, `2s`, `720h`), as Kubernetes APIs and flags spell them.

/** A Go-style duration in milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new Error(`"${text}" is not a duration like 500ms, 15s or 1m30s`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * (units[p[2] as string] as number), 0);
}
