/**
 * Variable-time multiplication of one fixed point by public 128-bit scalars, for c*Y in VRF
 * verification (c is a 16-byte challenge, Y the directory's VRF key, both public).
 *
 * @noble's precomputed multiplication runs its constant-time kernel over all 33 windows of a
 * 253-bit scalar, so a 128-bit c pays for 17 windows of zeros. This table holds
 * j * 2^(8w) * Y for j = 1..128 and w = 0..16 (2,176 points, built with @noble's point
 * addition in a few ms), and a multiplication is at most 17 table additions over signed
 * 8-bit digits of c. Only @noble point operations are used; the arithmetic is theirs.
 */
import { ed25519 } from '@noble/curves/ed25519.js';

const Point = ed25519.Point;
type Point = InstanceType<typeof Point>;

const WINDOW_BITS = 8;
const HALF = 1 << (WINDOW_BITS - 1); // 128: signed digits lie in [-128, 128]
/** 16 bytes of scalar plus one window for the last carry. */
const WINDOWS = 17;
export const SHORT_SCALAR_BYTES = 16;

export class ShortScalarTable {
  /** entries[w * HALF + j - 1] = j * 2^(8w) * point */
  private readonly entries: Point[];

  constructor(point: Point) {
    this.entries = new Array<Point>(WINDOWS * HALF);
    let base = point;
    for (let w = 0; w < WINDOWS; w++) {
      let acc = base;
      for (let j = 1; j <= HALF; j++) {
        this.entries[w * HALF + j - 1] = acc;
        acc = acc.add(base);
      }
      // 2^(8(w+1)) * point = 2 * (128 * 2^(8w) * point)
      base = (this.entries[w * HALF + HALF - 1] as Point).double();
    }
  }

  /** scalar * point for a little-endian scalar of at most 16 bytes. Variable time. */
  multiply(scalarLE: Uint8Array): Point {
    if (scalarLE.length > SHORT_SCALAR_BYTES) {
      throw new RangeError(`short scalar: at most ${SHORT_SCALAR_BYTES} bytes, got ${scalarLE.length}`);
    }
    let acc = Point.ZERO;
    let carry = 0;
    for (let w = 0; w < WINDOWS; w++) {
      let digit = (w < scalarLE.length ? (scalarLE[w] as number) : 0) + carry;
      carry = 0;
      if (digit > HALF) {
        digit -= 1 << WINDOW_BITS;
        carry = 1;
      }
      if (digit > 0) acc = acc.add(this.entries[w * HALF + digit - 1] as Point);
      else if (digit < 0) acc = acc.subtract(this.entries[w * HALF - digit - 1] as Point);
    }
    return acc;
  }
}
