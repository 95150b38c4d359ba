/** tracefleet login: checks a token against the API, then saves it (0600) for later commands. */
import { Command } from 'commander';
import { ApiClient } from '../api';
import { act, type Deps } from '../context';
import { checkTransport, configPath, normalizeUrl, readConfigFile, writeConfigFile, DEFAULT_URL } from '../config';
import { CliError, EXIT, clean, printJson, processIo } from '../output';

/** All of stdin (a pipe), trimmed. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** A line typed on the terminal, never echoed. Ctrl-C exits 130. */
function readHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (d: Buffer): void => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.removeListener('data', onData);
          process.stderr.write('\n');
          resolve(value.trim());
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          process.stderr.write('\n');
          process.exit(EXIT.interrupted);
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export function registerLogin(program: Command, deps: Deps): void {
  const cmd = new Command('login')
    .description('check a token against the controller and save it with the URL (mode 0600)')
    .option('--url <url>', 'controller URL (env TRACEFLEET_URL, default http://127.0.0.1:8080)')
    .option('--token <token>', 'the token (else read from stdin: piped, or typed without echo)')
    .option('--insecure-http', 'allow sending the token over plain http to a host that is not this machine')
    .option('--json', 'machine output: JSON on stdout only');
  cmd.action(
    act(deps, async (flags: { url?: string; token?: string; insecureHttp?: boolean; json?: boolean }) => {
      const env = deps.env ?? process.env;
      const io = deps.io ?? processIo();
      const path = configPath(env);
      const saved = readConfigFile(path);
      const url = normalizeUrl(flags.url ?? env.TRACEFLEET_URL ?? saved.url ?? DEFAULT_URL);
      const token = flags.token ?? (process.stdin.isTTY ? await readHidden(`token for ${url}: `) : await readStdin());
      if (!token) throw new CliError('no token: pass --token, or give it on stdin');
      if (/\s/.test(token)) throw new CliError('the token holds white space: give the token alone');
      checkTransport(url, true, flags.insecureHttp);
      const api = new ApiClient(url, token, deps.fetch);
      const nodes: unknown[] = await api.get('/nodes');
      writeConfigFile(path, { url, token });
      if (flags.json) printJson(io, { url, config: path, nodes: nodes.length });
      else io.err(`logged in to ${clean(url)} (${nodes.length} node${nodes.length === 1 ? '' : 's'}); saved to ${path}\n`);
      return EXIT.ok;
    }),
  );
  program.addCommand(cmd);
}
