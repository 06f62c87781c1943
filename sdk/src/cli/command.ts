// A CLI command: parsed flags in, exit code out. Commands print for people by default and
// JSON with --json, for scripts; errors go to stderr with a reason a person can act on.

export interface CommandContext {
  readonly args: readonly string[];
  readonly flags: ReadonlyMap<string, string | true>;
  readonly json: boolean;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(context: CommandContext): Promise<number>;
}

export class UsageError extends Error {}

/** Splits argv into positional arguments and --flag / --flag=value / --flag value pairs. */
export function parseArgv(
  argv: readonly string[],
  booleanFlags: ReadonlySet<string>,
): {
  args: string[];
  flags: Map<string, string | true>;
} {
  const args: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith('--')) {
      args.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = token.slice(2, eq === -1 ? undefined : eq);
    if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new UsageError(`bad flag ${JSON.stringify(token)}`);
    if (eq !== -1) flags.set(name, token.slice(eq + 1));
    else if (booleanFlags.has(name) || i + 1 >= argv.length || (argv[i + 1] as string).startsWith('--')) {
      flags.set(name, true);
    } else {
      flags.set(name, argv[++i] as string);
    }
  }
  return { args, flags };
}

export function requireFlag(context: CommandContext, name: string): string {
  const value = context.flags.get(name);
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} <value> is required`);
  return value;
}
