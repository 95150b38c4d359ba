import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { matchesSelector, parseNodeSelector } from './selector';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BadRequestException);
    return JSON.stringify(err.getResponse());
  }
  assert.fail('expected a BadRequestException');
}

describe('parseNodeSelector', () => {
  it('accepts all, names and labels', () => {
    assert.deepEqual(parseNodeSelector('all'), { all: true });
    assert.deepEqual(parseNodeSelector({ names: ['a'] }), { all: false, names: ['a'] });
    assert.deepEqual(parseNodeSelector({ labels: { zone: 'b' } }), { all: false, labels: { zone: 'b' } });
  });
  it('names the bad field', () => {
    assert.match(message(() => parseNodeSelector('some')), /nodes must be/);
    assert.match(message(() => parseNodeSelector({ names: ['ok', 'bad name'] })), /nodes.names\[1\]/);
    assert.match(message(() => parseNodeSelector({ labels: { zone: 3 } })), /nodes.labels.zone/);
    assert.match(message(() => parseNodeSelector({ hosts: [] })), /nodes.hosts/);
    assert.match(message(() => parseNodeSelector({})), /nodes must name/);
  });
  it('matches by name and every label', () => {
    const node = { name: 'a', labels: { zone: 'b', tier: 'web' } };
    assert.equal(matchesSelector({ all: false, labels: { zone: 'b' } }, node), true);
    assert.equal(matchesSelector({ all: false, labels: { zone: 'b', tier: 'db' } }, node), false);
    assert.equal(matchesSelector({ all: false, names: ['x'] }, node), false);
  });
});
