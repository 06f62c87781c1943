#!/usr/bin/env node
// keyfleet: the client CLI. Each command lives in its own file and is registered here.
import { auditCommand } from './audit-command.ts';
import { backupCommand, SKIP_ATTESTATION_FLAG } from './backup-command.ts';
import { type Command, type CommandContext, parseArgv, UsageError } from './command.ts';
import { historyCommand } from './history-command.ts';
import { lookupCommand } from './lookup-command.ts';
import { validateCommand } from './validate-command.ts';
import { verifyFleetCommand } from './verify-fleet-command.ts';

export const commands: readonly Command[] = [
  backupCommand,
  validateCommand,
  lookupCommand,
  historyCommand,
  auditCommand,
  verifyFleetCommand,
];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: keyfleet <command> [arguments] [--json]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "'keyfleet <command> --help' shows a command's arguments.",
  ].join('\n');
}

export async function runCli(
  argv: readonly string[],
  io: Pick<CommandContext, 'out' | 'err'>,
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`keyfleet: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return 2;
  }
  try {
    const { args, flags } = parseArgv(
      rest,
      new Set(['json', 'help', 'password-stdin', SKIP_ATTESTATION_FLAG]),
    );
    if (flags.has('help')) {
      io.out(`usage: ${command.usage}`);
      return 0;
    }
    return await command.run({ args, flags, json: flags.has('json'), ...io });
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`keyfleet ${command.name}: ${error.message}\nusage: ${command.usage}`);
      return 2;
    }
    io.err(`keyfleet ${command.name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runCli(process.argv.slice(2), {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  });
}
