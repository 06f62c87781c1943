// Network faults the harness injects, kept as state and written to the host's nftables table
// (network.ts) as a whole each time they change, so heal is exact and nothing lingers.
import { nodeLayout } from '../config.ts';
import { writeContainmentTable } from '../network.ts';

export class Faults {
  private readonly zones = new Set<string>();
  private readonly ips = new Set<string>();

  partitionZone(zone: string): void {
    nodeLayout(zone); // validates the zone name
    this.zones.add(zone);
    this.apply();
  }
  healZone(zone?: string): void {
    if (zone) this.zones.delete(zone);
    else this.zones.clear();
    this.apply();
  }
  isolateIp(ip: string): void {
    if (!/^10\.244\.\d{1,3}\.\d{1,3}$/.test(ip)) throw new Error(`not a pod address: ${ip}`);
    this.ips.add(ip);
    this.apply();
  }
  unisolateIp(ip?: string): void {
    if (ip) this.ips.delete(ip);
    else this.ips.clear();
    this.apply();
  }
  healAll(): void {
    this.zones.clear();
    this.ips.clear();
    this.apply();
  }
  describe(): { partitionedZones: string[]; isolatedIps: string[] } {
    return { partitionedZones: [...this.zones], isolatedIps: [...this.ips] };
  }
  apply(): void {
    writeContainmentTable([], {
      partitionedBridges: [...this.zones].map((z) => nodeLayout(z).bridge),
      isolatedIps: [...this.ips],
    });
  }
}
