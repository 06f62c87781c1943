// What changed between two fleet-deployment statements, in sentences a security engineer reads
// before trusting a new deployment. Pure; no verification (verifyFleetBundle does that first).
import type { AttestedMember, FleetStatement } from './statement.ts';

const short = (hex: string) => `${hex.slice(0, 16)}…`;

export function diffFleetStatements(previous: FleetStatement, current: FleetStatement): string[] {
  const a = previous.predicate;
  const b = current.predicate;
  const out: string[] = [];
  const field = (what: string, x: unknown, y: unknown) => {
    if (JSON.stringify(x) !== JSON.stringify(y))
      out.push(`${what}: ${JSON.stringify(x)} -> ${JSON.stringify(y)}`);
  };
  field('fleet', a.fleet, b.fleet);
  field('serial', a.serial, b.serial);
  field('generation', a.generation, b.generation);
  if (a.image.digest !== b.image.digest || a.image.ref !== b.image.ref) {
    out.push(`image: ${a.image.ref} (${a.image.digest}) -> ${b.image.ref} (${b.image.digest})`);
  }
  field('guess limit', a.guessLimit, b.guessLimit);
  if (a.opaqueServerPublicKey !== b.opaqueServerPublicKey) {
    out.push(
      `OPAQUE server key: ${short(a.opaqueServerPublicKey)} -> ${short(b.opaqueServerPublicKey)} (existing registrations no longer log in)`,
    );
  }
  if (a.manufacturerCaPublicKey !== b.manufacturerCaPublicKey) {
    out.push(`manufacturer CA: ${short(a.manufacturerCaPublicKey)} -> ${short(b.manufacturerCaPublicKey)}`);
  }
  for (const z of b.zones) if (!a.zones.includes(z)) out.push(`zone ${z} added`);
  for (const z of a.zones) if (!b.zones.includes(z)) out.push(`zone ${z} removed`);
  field('quorum', a.quorum, b.quorum);
  const before = new Map<string, AttestedMember>(a.members.map((m) => [m.id, m]));
  const after = new Map<string, AttestedMember>(b.members.map((m) => [m.id, m]));
  for (const [id, m] of after) {
    const old = before.get(id);
    if (old === undefined) out.push(`member ${id} added in zone ${m.zone} (HSM key ${short(m.hsmKeyId)})`);
    else {
      if (old.zone !== m.zone) out.push(`member ${id} moved: zone ${old.zone} -> ${m.zone}`);
      if (old.identityKey !== m.identityKey) {
        out.push(`member ${id} re-keyed: HSM key ${short(old.hsmKeyId)} -> ${short(m.hsmKeyId)}`);
      } else if (old.hsmCertificate !== m.hsmCertificate) {
        out.push(`member ${id}: HSM certificate re-issued for the same key`);
      }
    }
  }
  for (const [id, m] of before) {
    if (!after.has(id)) out.push(`member ${id} removed from zone ${m.zone} (HSM key ${short(m.hsmKeyId)})`);
  }
  field('directory', a.directory, b.directory);
  return out;
}
