// keyfleet backup register|recover: the whole OPAQUE flow against a fleet. The password is read
// from a file or standard input (never from the command line, where other users can see it); the
// fleet is trusted through a trust file whose certificates the client verifies itself.
import { readFileSync } from 'node:fs';
import { BackupClient, BackupError, httpTransport } from '../backup/client.ts';
import { readFleetTrust, trustedMembers } from '../vault/trust-file.ts';
import { type Command, type CommandContext, requireFlag, UsageError } from './command.ts';

async function readPassword(context: CommandContext): Promise<string> {
  const file = context.flags.get('password-file');
  let text: string;
  if (typeof file === 'string') text = readFileSync(file, 'utf8');
  else if (context.flags.get('password-stdin') === true) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else throw new UsageError('give the password with --password-file FILE or --password-stdin');
  const password = text.replace(/\r?\n$/, '');
  if (password === '' || password.length > 1024)
    throw new UsageError('the password must be 1 to 1024 characters');
  return password;
}

function client(context: CommandContext): BackupClient {
  const trust = readFleetTrust(requireFlag(context, 'trust'));
  const url = (context.flags.get('url') as string | undefined) ?? trust.url;
  if (!url) throw new UsageError('--url is required when the trust file names no url');
  return new BackupClient({
    fleetId: trust.fleetId,
    trustedMembers: trustedMembers(trust),
    transport: httpTransport(url),
  });
}

function readBackupKey(context: CommandContext): Uint8Array {
  const file = context.flags.get('key-file');
  if (typeof file !== 'string') return crypto.getRandomValues(new Uint8Array(32));
  const text = readFileSync(file, 'utf8').trim();
  const key = /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64url');
  if (key.length !== 32) throw new UsageError('--key-file must hold 32 bytes as hex or base64url');
  return new Uint8Array(key);
}

const usage = `keyfleet backup register|recover --trust FILE --user ID (--password-file FILE | --password-stdin)
                [--url URL] [--key-file FILE] [--json]
  register  escrows a backup key (from --key-file, or a new random one) and prints it
  recover   recovers the backup key; every call is one counted guess`;

export const backupCommand: Command = {
  name: 'backup',
  summary: 'escrow a backup key behind a password (OPAQUE) or recover it',
  usage,
  async run(context) {
    const [action] = context.args;
    if (action !== 'register' && action !== 'recover') throw new UsageError('say register or recover');
    const user = requireFlag(context, 'user');
    const fleet = client(context);
    const password = await readPassword(context);
    try {
      let key: Uint8Array;
      if (action === 'register') {
        key = readBackupKey(context);
        await fleet.register(user, password, key);
      } else key = await fleet.recover(user, password);
      const hex = Buffer.from(key).toString('hex');
      if (context.json) context.out(JSON.stringify({ user, action, backupKey: hex }));
      else context.out(`${action === 'register' ? 'escrowed' : 'recovered'} backup key for ${user}: ${hex}`);
      return 0;
    } catch (e) {
      if (!(e instanceof BackupError)) throw e;
      if (context.json)
        context.out(JSON.stringify({ user, action, error: { code: e.code, message: e.message } }));
      else context.err(`keyfleet backup ${action}: ${e.code}: ${e.message}`);
      return e.code === 'wrong-password' || e.code === 'locked' ? 3 : 1;
    }
  },
};
