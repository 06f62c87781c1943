// The image map (images.yaml): image name -> local command. Pure apart from loading the file.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { paths, repoRoot } from '../config.ts';

export interface ImageRule {
  image: string;
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
}

export function loadImageMap(file = paths.imagesYaml): ImageRule[] {
  const doc = parse(readFileSync(file, 'utf8')) as { images?: Partial<ImageRule>[] };
  if (!Array.isArray(doc?.images)) throw new Error(`${file}: expected a top-level 'images:' list`);
  return doc.images.map((r, i) => {
    if (typeof r.image !== 'string') throw new Error(`${file}: images[${i}].image must be a string`);
    return {
      image: r.image,
      entrypoint: r.entrypoint ?? [],
      cmd: r.cmd ?? [],
      workingDir: r.workingDir ?? '.',
    };
  });
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${escaped}$`);
}

export function matchImage(rules: ImageRule[], image: string): ImageRule | undefined {
  return rules.find((r) => globToRegExp(r.image).test(image));
}

export interface ResolvedCommand {
  argv: string[];
  cwd: string;
}

/** Docker's rule: command replaces ENTRYPOINT (and drops CMD), args replace CMD. */
export function resolveCommand(
  rule: ImageRule,
  command?: string[],
  args?: string[],
  workingDir?: string,
): ResolvedCommand {
  const argv = command?.length
    ? [...command, ...(args ?? [])]
    : [...rule.entrypoint, ...(args?.length ? args : rule.cmd)];
  if (argv.length === 0) throw new Error(`image ${rule.image}: no entrypoint, cmd or command to run`);
  const cwd = workingDir
    ? workingDir
    : isAbsolute(rule.workingDir)
      ? rule.workingDir
      : join(repoRoot, rule.workingDir);
  return { argv, cwd };
}

export const containerPath = `${join(repoRoot, 'node_modules', '.bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

/**
 * The imageID a container reports. A local "image" has no content to hash (its command runs from
 * the checkout), so its digest is the SHA-256 of the image reference: stable for a reference and
 * different for another tag, as a registry digest is. Reported as `<repository>@sha256:<hex>`, the
 * shape a kubelet reports, so consumers that pin images by digest work unchanged here.
 */
export function localImageId(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0 && /^sha256:[0-9a-f]{64}$/.test(image.slice(at + 1))) return image;
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const repository = colon > slash ? image.slice(0, colon) : image;
  return `${repository}@sha256:${createHash('sha256').update(image).digest('hex')}`;
}
