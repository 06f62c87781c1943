import { describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../../metrics.ts';
import { testFleet } from '../../specs/test-fleet.ts';
import { nextStep } from './rollout.ts';
import { desiredStatus, recordFleetMetrics, statusChanged, statusPatch } from './status-writer.ts';
import { down, observe, ZONES7 } from './test-observation.ts';

const t0 = new Date('2026-11-23T10:00:00Z');
const t1 = new Date('2026-11-23T10:05:00Z');

describe('status writer', () => {
  it('summarises the observation with conditions stamped at the first observation', () => {
    const fleet = testFleet();
    const obs = observe({ zones: ZONES7 });
    const status = desiredStatus(fleet, obs, nextStep(obs), () => t0);
    expect(status).toMatchObject({
      observedGeneration: 3,
      readyMembers: 7,
      quorum: 4,
      leader: 'dc1',
      term: 4,
    });
    const quorum = status.conditions?.find((c) => c.type === 'QuorumHealthy');
    expect(quorum).toMatchObject({ status: 'True', lastTransitionTime: '2026-11-23T10:00:00Z' });
  });

  it('takes the Attested condition and status.attestation from the attestation pass, else keeps them', () => {
    const fleet = testFleet();
    const obs = observe({ zones: ZONES7 });
    const attestation = {
      serial: 2,
      digest: `sha256:${'ab'.repeat(32)}`,
      directoryEpoch: 9,
      configMap: 'backups-attestation',
      expiresAt: '2026-12-23T10:00:00Z',
    };
    const attested = {
      type: 'Attested' as const,
      status: 'True' as const,
      reason: 'Attested',
      message: 'serial 2',
      observedGeneration: 3,
    };
    fleet.status = desiredStatus(fleet, obs, nextStep(obs), () => t0, {
      conditions: [attested],
      attestation,
    });
    expect(fleet.status.attestation).toEqual(attestation);
    expect(fleet.status.conditions?.find((c) => c.type === 'Attested')).toMatchObject({
      status: 'True',
      lastTransitionTime: '2026-11-23T10:00:00Z',
    });
    // A pass that did not attest (paused) keeps both as they were.
    const kept = desiredStatus(fleet, obs, nextStep(obs), () => t1);
    expect(kept.attestation).toEqual(attestation);
    expect(kept.conditions?.find((c) => c.type === 'Attested')).toMatchObject({ reason: 'Attested' });
  });

  it('the same observation later is no change (nothing to write); a lost member is', () => {
    const obs = observe({ zones: ZONES7 });
    const fleet = testFleet();
    fleet.status = desiredStatus(fleet, obs, nextStep(obs), () => t0);
    expect(
      statusChanged(
        fleet,
        desiredStatus(fleet, obs, nextStep(obs), () => t1),
      ),
    ).toBe(false);
    const degraded = observe({ zones: ZONES7, members: { dc3: down } });
    const next = desiredStatus(fleet, degraded, nextStep(degraded), () => t1);
    expect(statusChanged(fleet, next)).toBe(true);
    expect(next.readyMembers).toBe(6);
    // QuorumHealthy held: its transition time is kept.
    expect(next.conditions?.find((c) => c.type === 'QuorumHealthy')?.lastTransitionTime).toBe(
      '2026-11-23T10:00:00Z',
    );
  });

  it('keeps the attestation another part of the operator wrote', () => {
    const fleet = testFleet();
    fleet.status = { attestation: { serial: 4, digest: 'sha256:ab' } };
    const obs = observe({ zones: ZONES7 });
    expect(desiredStatus(fleet, obs, nextStep(obs), () => t0).attestation).toEqual({
      serial: 4,
      digest: 'sha256:ab',
    });
  });

  it('applies identity and status only', () => {
    const fleet = testFleet();
    const patch = statusPatch(fleet, { phase: 'Available' });
    expect(patch.metadata).toEqual({ name: 'backups', namespace: 'vaults' });
    expect(patch.status).toEqual({ phase: 'Available' });
  });

  it('sets the fleet gauges and counts a change of leader', async () => {
    const metrics = createOperatorMetrics();
    const fleet = testFleet();
    fleet.status = { leader: 'dc2' };
    recordFleetMetrics(metrics, fleet, observe({ zones: ZONES7, members: { dc5: down } }));
    const value = async (g: { get(): Promise<{ values: { value: number }[] }> }) =>
      (await g.get()).values[0]?.value;
    expect(await value(metrics.fleetMembers)).toBe(7);
    expect(await value(metrics.fleetMembersReady)).toBe(6);
    expect(await value(metrics.fleetQuorum)).toBe(4);
    expect(await value(metrics.fleetQuorumHealthy)).toBe(1);
    expect(await value(metrics.fleetLeaderChanges)).toBe(1);
  });
});
