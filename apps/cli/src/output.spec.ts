import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, clean, exitCodeFor, table } from './output';

describe('exit codes', () => {
  it('maps how a job ended', () => {
    assert.equal(exitCodeFor('completed'), 0);
    assert.equal(exitCodeFor('partial'), 2);
    assert.equal(exitCodeFor('stopped'), 2);
    assert.equal(exitCodeFor('failed'), 1);
    assert.equal(exitCodeFor('deleted'), 1);
  });
});

describe('clean: API strings cannot drive the terminal', () => {
  it('removes the ESC of OSC, CSI and other sequences, C1 controls and newlines', () => {
    const osc = 'node\x1b]0;pwned title\x07-a';
    assert.equal(clean(osc).includes('\x1b'), false);
    assert.equal(clean(osc).includes('\x07'), false);
    assert.equal(clean('\x1b[2J\x1b[31mred'), '\ufffd[2J\ufffd[31mred');
    assert.equal(clean('a\x9b31mb'), 'a\ufffd31mb', 'one-byte CSI');
    assert.equal(clean('line1\nforged: line2\r'), 'line1\ufffdforged: line2\ufffd');
    assert.equal(clean('abc\u202edcba'), 'abc\ufffddcba', 'bidi override');
    assert.equal(clean('tab\tok é ✓'), 'tab\tok é ✓');
    assert.equal(clean(null), '');
    assert.equal(clean(42), '42');
  });

  it('cleans every table cell and keeps columns aligned', () => {
    const out = table(['NAME', 'STATUS'], [['evil\x1b]52;c;Zm9v\x07', 'connected'], ['ok', 'gone']]);
    assert.equal(/[\x00-\x08\x0b-\x1f\x7f]/.test(out), false, JSON.stringify(out));
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[1].indexOf('connected'), lines[2].indexOf('gone'));
  });

  it('formats sizes', () => {
    assert.equal(bytes(512), '512 B');
    assert.equal(bytes(1536), '1.5 KiB');
    assert.equal(bytes('x'), '-');
  });
});
