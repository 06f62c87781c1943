// For tests of clients that refuse fleets: the FleetRefusedError a call ends with (anything else,
// including success, fails the test).
import { FleetRefusedError } from './fleet-attestation.ts';

export async function refusalOf(call: Promise<unknown> | (() => unknown)): Promise<FleetRefusedError> {
  let outcome: unknown;
  try {
    await (typeof call === 'function' ? call() : call);
    outcome = new Error('the fleet was accepted');
  } catch (e) {
    outcome = e;
  }
  if (outcome instanceof FleetRefusedError) return outcome;
  throw outcome;
}
