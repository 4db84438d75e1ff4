/**
 * How the CLI reads a password: the hidden prompt driven through terminal-like streams, keystroke
 * by keystroke as a person types, and the non-terminal sources (piped stdin, GATEHOUSE_PASSWORD).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { UsageError, type CliIO } from '../src/io.js';
import { readPassword } from '../src/password.js';

const KEY = {
  up: '\u001b[A',
  down: '\u001b[B',
  right: '\u001b[C',
  left: '\u001b[D',
  home: '\u001b[H',
  end: '\u001b[F',
  backspace: '\u007f',
  enter: '\r',
  ctrlC: '\u0003',
  ctrlD: '\u0004',
};

/** A terminal's input side: a TTY flag and raw mode, as process.stdin has on a terminal. */
class TerminalInput extends PassThrough {
  readonly isTTY = true;
  rawMode = false;
  setRawMode(mode: boolean): this {
    this.rawMode = mode;
    return this;
  }
}

function terminal(env: NodeJS.ProcessEnv = {}) {
  const stdin = new TerminalInput();
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 80, rows: 24 });
  const screen = { stdout: '', stderr: '' };
  stdout.on('data', (d: Buffer) => (screen.stdout += d.toString()));
  stderr.on('data', (d: Buffer) => (screen.stderr += d.toString()));
  const io: CliIO = { stdin, stdout, stderr, env };

  /** Resolves once `text` has been shown on the terminal. */
  const shown = async (text: string) => {
    for (let i = 0; i < 500 && !screen.stderr.includes(text); i++) await new Promise((r) => setTimeout(r, 2));
    if (!screen.stderr.includes(text)) throw new Error(`never shown: ${JSON.stringify(text)} in ${screen.stderr}`);
  };
  /** Types each key as its own chunk, as a terminal delivers keystrokes. */
  const type = async (keys: readonly string[]) => {
    for (const key of keys) {
      stdin.write(key);
      await new Promise((r) => setImmediate(r));
    }
  };
  /** Waits for the prompt `text`, then types `keys` into it. */
  const answer = async (text: string, keys: readonly string[]) => {
    await shown(text);
    await type(keys);
  };
  return { io, stdin, screen, answer };
}

const chars = (text: string) => [...text];

describe('on a terminal, the password is asked twice with @inquirer/password', () => {
  test('arrow keys move the cursor as in a shell; they never become part of the password', async () => {
    const t = terminal();
    const password = readPassword(t.io, {});
    // "staple", then arrows: up/down (no history) change nothing, left/home move back, so
    // "battery " lands in front; end and right go back to the end for " horse".
    const keys = [
      ...chars('staple'),
      KEY.up,
      KEY.down,
      KEY.left,
      KEY.home,
      ...chars('battery '),
      KEY.end,
      KEY.right,
      ...chars(' horse'),
      KEY.enter,
    ];
    await t.answer('Password: ', keys);
    await t.answer('Password (again): ', keys);
    const result = await password;
    expect(result).toBe('battery staple horse');
    for (const fragment of ['\u001b', '[A', '[B', '[C', '[D', '[H', '[F']) expect(result).not.toContain(fragment);
  });

  test('nothing typed is shown: the prompt says the input is masked; stdout stays clean', async () => {
    const t = terminal();
    const password = readPassword(t.io, {}, 'New password');
    await t.answer('New password: ', chars('correct horse battery'));
    expect(t.stdin.rawMode).toBe(true); // the terminal's echo is off while a question is open
    await t.answer('New password: ', [KEY.enter]);
    await t.answer('New password (again): ', [...chars('correct horse battery'), KEY.enter]);
    expect(await password).toBe('correct horse battery');
    expect(t.screen.stderr).toContain('New password: [input is masked]');
    for (const word of ['correct', 'horse', 'battery', '*']) expect(t.screen.stderr).not.toContain(word);
    expect(t.screen.stdout).toBe('');
    expect(t.stdin.rawMode).toBe(false); // the terminal is given back as it was
  });

  test('backspace deletes the character before the cursor', async () => {
    const t = terminal();
    const password = readPassword(t.io, {});
    const keys = [...chars('long passphrasx'), KEY.backspace, 'e', KEY.enter];
    await t.answer('Password: ', keys);
    await t.answer('Password (again): ', keys);
    expect(await password).toBe('long passphrase');
  });

  test('two different answers are refused (usage error)', async () => {
    const t = terminal();
    const password = readPassword(t.io, {});
    const settled = password.catch((e: unknown) => e);
    await t.answer('Password: ', [...chars('first passphrase here'), KEY.enter]);
    await t.answer('Password (again): ', [...chars('second passphrase here'), KEY.enter]);
    const error = await settled;
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe('the passwords do not match');
  });

  test.each([
    ['Ctrl-C', KEY.ctrlC],
    ['Ctrl-D', KEY.ctrlD],
  ])('%s cancels the prompt (usage error), and the terminal leaves raw mode', async (_name, key) => {
    const t = terminal();
    const settled = readPassword(t.io, {}).catch((e: unknown) => e);
    await t.answer('Password: ', [...chars('half typed'), key]);
    const error = await settled;
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toBe('cancelled');
    expect(t.stdin.rawMode).toBe(false);
  });

  test('an empty answer is refused', async () => {
    const t = terminal();
    const settled = readPassword(t.io, {}).catch((e: unknown) => e);
    await t.answer('Password: ', [KEY.enter]);
    await t.answer('Password (again): ', [KEY.enter]);
    expect(await settled).toMatchObject({ name: 'UsageError', message: 'the password is empty' });
  });
});

describe('without a terminal', () => {
  const piped = (input: string, env: NodeJS.ProcessEnv = {}): CliIO => {
    const stdin = new PassThrough();
    stdin.end(input);
    return { stdin, stdout: new PassThrough(), stderr: new PassThrough(), env };
  };

  test('--password-stdin reads all of standard input, one trailing newline removed', async () => {
    expect(await readPassword(piped('piped passphrase\n'), { passwordStdin: true })).toBe('piped passphrase');
    expect(await readPassword(piped('crlf passphrase\r\n'), { passwordStdin: true })).toBe('crlf passphrase');
    expect(await readPassword(piped(' spaces kept \n\n'), { passwordStdin: true })).toBe(' spaces kept \n');
    await expect(readPassword(piped('\n'), { passwordStdin: true })).rejects.toThrow('the password is empty');
  });

  test('GATEHOUSE_PASSWORD is used when stdin is not asked for', async () => {
    expect(await readPassword(piped('ignored', { GATEHOUSE_PASSWORD: 'from the env' }), {})).toBe('from the env');
  });

  test('with neither, it does not prompt but explains (usage error)', async () => {
    const error = await readPassword(piped(''), {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/--password-stdin.*GATEHOUSE_PASSWORD/);
  });
});
