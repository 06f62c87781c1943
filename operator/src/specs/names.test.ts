import { describe, expect, it } from 'vitest';
import { disruptionBudget } from './disruption-budget.ts';
import { memberPod } from './member-pod.ts';
import { memberClaim } from './member-pvc.ts';
import {
  boundedName,
  clientServiceName,
  labelValue,
  MAX_NAME_LENGTH,
  memberClaimName,
  memberName,
  peerServiceName,
  serviceName,
} from './names.ts';
import { memberNetworkPolicy } from './network-policy.ts';
import { manufacturerCaSecret, operatorAdminKeySecret, sealingKeySecret } from './secrets.ts';
import { memberServiceAccount } from './service-account.ts';
import { clientService, peerService } from './services.ts';
import { testFleet } from './test-fleet.ts';
import { trustBundle } from './trust-bundle.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

describe('boundedName', () => {
  it('keeps a short, valid name as it is', () => {
    expect(memberName('backups', 'dc3')).toBe('backups-dc3');
    expect(memberClaimName('backups', 'dc3')).toBe('backups-dc3-data');
    expect(peerServiceName('backups')).toBe('backups-peers');
    expect(clientServiceName('backups')).toBe('backups-client');
  });

  it('shortens a long name to 63 characters, keeps the zone readable, and is deterministic', () => {
    const fleet = 'f'.repeat(200);
    const name = memberName(fleet, 'europe-west-3a');
    expect(name.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
    expect(name).toMatch(DNS_LABEL);
    expect(name.endsWith('-europe-west-3a')).toBe(true);
    expect(memberName(fleet, 'europe-west-3a')).toBe(name);
  });

  it('gives different long inputs different names even when their prefixes agree', () => {
    const a = memberName(`${'f'.repeat(80)}a`, 'dc1');
    const b = memberName(`${'f'.repeat(80)}b`, 'dc1');
    expect(a).not.toBe(b);
  });

  it('rewrites characters a DNS label cannot hold, and hashes so that rewriting never collides', () => {
    const dotted = memberName('team.backups', 'dc1');
    expect(dotted).toMatch(DNS_LABEL);
    expect(dotted).not.toBe(memberName('team-backups', 'dc1'));
    expect(memberName('team-backups', 'dc1')).toBe('team-backups-dc1');
  });

  it('still fits when the zone alone is 63 characters', () => {
    const name = boundedName('backups', 'z'.repeat(63));
    expect(name.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
    expect(name).toMatch(DNS_LABEL);
  });

  it('makes Service names start with a letter', () => {
    expect(serviceName('1fleet', 'peers')).toMatch(/^[a-z]/);
    expect(serviceName('1fleet', 'peers')).toMatch(DNS_LABEL);
  });

  it('bounds label values', () => {
    expect(labelValue('backups')).toBe('backups');
    const long = labelValue('x'.repeat(253));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(LABEL_VALUE);
  });
});

describe('every object a fleet owns', () => {
  const worstCase = testFleet(
    { zones: ['z'.repeat(63), 'dc2', 'dc3'] },
    `${'a'.repeat(120)}.${'b'.repeat(120)}`,
  );
  const zeros = (n: number) => new Uint8Array(n);
  const key = new Uint8Array(32).fill(7);
  const build = () => [
    memberPod(worstCase, { zone: 'z'.repeat(63), clusterState: 'new' }),
    memberClaim(worstCase, 'z'.repeat(63)),
    sealingKeySecret(worstCase, 'z'.repeat(63), zeros),
    manufacturerCaSecret(worstCase, zeros),
    operatorAdminKeySecret(worstCase, zeros),
    trustBundle(worstCase, { manufacturerCaPublicKey: key, operatorAdminPublicKey: key }),
    peerService(worstCase),
    clientService(worstCase),
    disruptionBudget(worstCase),
    memberNetworkPolicy(worstCase),
    memberServiceAccount(worstCase),
  ];
  const objects = build();

  it.each(objects.map((o) => [o.kind, o] as const))('%s has a DNS-label name and valid labels', (_, o) => {
    const name = o.metadata?.name ?? '';
    expect(name.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
    expect(name).toMatch(DNS_LABEL);
    for (const value of Object.values(o.metadata?.labels ?? {})) expect(value).toMatch(LABEL_VALUE);
    expect(o.metadata?.namespace).toBe('vaults');
  });

  it('are built the same every time from the same fleet (and the same injected randomness)', () => {
    expect(JSON.stringify(build())).toBe(JSON.stringify(objects));
  });

  it('names are distinct', () => {
    const ids = objects.map((o) => `${o.kind}/${o.metadata?.name}`);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
