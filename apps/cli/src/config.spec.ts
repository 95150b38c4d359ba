import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTransport, configPath, isLoopback, normalizeUrl, readConfigFile, resolveConfig, writeConfigFile } from './config';

describe('config precedence: flag > env > file > default', () => {
  const file = { url: 'http://file.example:1', token: 'file-token' };
  const env = { TRACEFLEET_URL: 'http://env.example:2', TRACEFLEET_TOKEN: 'env-token' };

  it('takes each of URL and token from the first place that has it', () => {
    assert.deepEqual(resolveConfig({ url: 'http://flag.example:3', token: 'flag-token' }, env, file), {
      url: 'http://flag.example:3',
      token: 'flag-token',
      urlFrom: 'flag',
      tokenFrom: 'flag',
    });
    assert.deepEqual(resolveConfig({}, env, file), { url: 'http://env.example:2', token: 'env-token', urlFrom: 'env', tokenFrom: 'env' });
    assert.deepEqual(resolveConfig({}, {}, file), { url: 'http://file.example:1', token: 'file-token', urlFrom: 'file', tokenFrom: 'file' });
    assert.deepEqual(resolveConfig({}, {}, {}), { url: 'http://127.0.0.1:8080', token: undefined, urlFrom: 'default', tokenFrom: 'none' });
    assert.deepEqual(resolveConfig({ token: 't' }, { TRACEFLEET_URL: 'http://h:1/api/v1/' }, file), { url: 'http://h:1', token: 't', urlFrom: 'env', tokenFrom: 'flag' });
  });

  it('finds the file under XDG_CONFIG_HOME, else ~/.config', () => {
    assert.equal(configPath({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/u' }), '/x/cfg/tracefleet/config.json');
    assert.equal(configPath({ HOME: '/home/u' }), '/home/u/.config/tracefleet/config.json');
    assert.equal(configPath({ XDG_CONFIG_HOME: 'relative', HOME: '/home/u' }), '/home/u/.config/tracefleet/config.json', 'a relative XDG_CONFIG_HOME is ignored (XDG spec)');
  });
});

describe('config file', () => {
  it('is written 0600 in a 0700 directory, read back, and refused when others may read it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tf-cli-'));
    try {
      const path = configPath({ XDG_CONFIG_HOME: dir });
      writeConfigFile(path, { url: 'http://127.0.0.1:8080', token: 'secret' });
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(statSync(join(dir, 'tracefleet')).mode & 0o777, 0o700);
      assert.deepEqual(readConfigFile(path), { url: 'http://127.0.0.1:8080', token: 'secret' });
      assert.deepEqual(resolveConfig({}, { XDG_CONFIG_HOME: dir }).token, 'secret');
      chmodSync(path, 0o644);
      assert.throws(() => readConfigFile(path), /open to other users \(mode 644\).*chmod 600/);
      chmodSync(path, 0o600);
      writeFileSync(path, 'not json', { mode: 0o600 });
      assert.throws(() => readConfigFile(path), /not a tracefleet config file/);
      assert.deepEqual(readConfigFile(join(dir, 'none.json')), {});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('transport', () => {
  it('normalizes URLs and refuses what is not one', () => {
    assert.equal(normalizeUrl('https://tf.example/'), 'https://tf.example');
    assert.equal(normalizeUrl('http://h:8080/api/v1'), 'http://h:8080');
    assert.equal(normalizeUrl('http://h/prefix/'), 'http://h/prefix');
    assert.throws(() => normalizeUrl('h:8080x'), /must be http/);
    assert.throws(() => normalizeUrl('not a url'), /is not a URL/);
    assert.throws(() => normalizeUrl('http://u:p@h'), /credentials/);
  });

  it('refuses a token over plain http to another host unless --insecure-http', () => {
    for (const u of ['http://127.0.0.1:8080', 'http://localhost:1', 'http://[::1]:8080', 'http://127.1.2.3']) assert.ok(isLoopback(u), u);
    assert.equal(isLoopback('http://10.0.0.1'), false);
    assert.doesNotThrow(() => checkTransport('http://127.0.0.1:8080', true, false));
    assert.doesNotThrow(() => checkTransport('https://tf.example', true, false));
    assert.doesNotThrow(() => checkTransport('http://tf.example', false, false), 'no token, nothing to leak');
    assert.doesNotThrow(() => checkTransport('http://tf.example', true, true));
    assert.throws(() => checkTransport('http://tf.example:8080', true, false), /refusing to send the token over plain http to tf\.example:8080.*--insecure-http/);
  });
});
