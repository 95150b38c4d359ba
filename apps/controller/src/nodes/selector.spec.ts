import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { badRequestMessage } from '../testing/bad-request';
import { describeSelector, matchesExpression, matchesSelector, parseLabelSelectorString, parseNodeSelector } from './selector';

const message = badRequestMessage;

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

describe('selector set expressions and limit', () => {
  const issueExample = {
    labels: { env: 'prod' },
    expressions: [
      { key: 'zone', operator: 'In', values: ['a', 'b'] },
      { key: 'canary', operator: 'DoesNotExist' },
    ],
  };

  it('parses expressions, limit and {all, limit}, keeping the old forms unchanged', () => {
    assert.deepEqual(parseNodeSelector(issueExample), {
      all: false,
      labels: { env: 'prod' },
      expressions: [
        { key: 'zone', operator: 'In', values: ['a', 'b'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    });
    assert.deepEqual(parseNodeSelector({ all: true }), { all: true });
    assert.deepEqual(parseNodeSelector({ all: true, limit: 10 }), { all: true, limit: 10 });
    assert.deepEqual(parseNodeSelector({ labels: { env: 'prod' }, limit: 2 }), { all: false, labels: { env: 'prod' }, limit: 2 });
    assert.deepEqual(parseNodeSelector({ expressions: [{ key: 'gpu', operator: 'Exists', values: [] }] }), { all: false, expressions: [{ key: 'gpu', operator: 'Exists' }] });
  });

  it('names the bad field of a malformed selector', () => {
    const cases: [unknown, RegExp][] = [
      [{ labels: { env: 'prod' }, limit: 0 }, /nodes.limit must be an integer from 1 to 10000/],
      [{ all: true, limit: 1.5 }, /nodes.limit/],
      [{ all: true, limit: '3' }, /nodes.limit/],
      [{ all: false }, /nodes.all must be true/],
      [{ all: true, labels: { a: 'b' } }, /nodes.all cannot be combined with labels/],
      [{ expressions: [] }, /nodes.expressions must be a non-empty array/],
      [{ expressions: {} }, /nodes.expressions must be/],
      [{ expressions: ['zone'] }, /nodes.expressions\[0\] must be an object/],
      [{ expressions: [{ key: 'zone', operator: 'in', values: ['a'] }] }, /nodes.expressions\[0\].operator must be one of In, NotIn, Exists, DoesNotExist/],
      [{ expressions: [{ key: 'zone', operator: 'In' }] }, /nodes.expressions\[0\].values must be a non-empty array/],
      [{ expressions: [{ key: 'zone', operator: 'NotIn', values: [] }] }, /nodes.expressions\[0\].values/],
      [{ expressions: [{ key: 'ok', operator: 'Exists' }, { key: 'zone', operator: 'In', values: ['a', 7] }] }, /nodes.expressions\[1\].values\[1\]/],
      [{ expressions: [{ key: 'gpu', operator: 'Exists', values: ['x'] }] }, /nodes.expressions\[0\].values must be empty for Exists/],
      [{ expressions: [{ key: 'bad key', operator: 'Exists' }] }, /nodes.expressions\[0\].key/],
      [{ expressions: [{ key: 'a', operator: 'Exists', value: 'x' }] }, /nodes.expressions\[0\].value is not a known field/],
      [{ limit: 3 }, /nodes must name nodes, labels, expressions or a selector/],
    ];
    for (const [raw, re] of cases) assert.match(message(() => parseNodeSelector(raw)), re, JSON.stringify(raw));
  });

  it('prefixes errors with the caller\'s field', () => {
    assert.match(message(() => parseNodeSelector({ labels: { zone: 3 } }, 'spec.nodes')), /spec.nodes.labels.zone/);
  });

  it('matches In, NotIn, Exists, DoesNotExist as Kubernetes does', () => {
    const l = { zone: 'a', env: 'prod' };
    assert.equal(matchesExpression({ key: 'zone', operator: 'In', values: ['a', 'b'] }, l), true);
    assert.equal(matchesExpression({ key: 'zone', operator: 'In', values: ['c'] }, l), false);
    assert.equal(matchesExpression({ key: 'tier', operator: 'In', values: ['a'] }, l), false);
    assert.equal(matchesExpression({ key: 'zone', operator: 'NotIn', values: ['a'] }, l), false);
    assert.equal(matchesExpression({ key: 'tier', operator: 'NotIn', values: ['web'] }, l), true, 'NotIn holds for a node without the key');
    assert.equal(matchesExpression({ key: 'env', operator: 'Exists' }, l), true);
    assert.equal(matchesExpression({ key: 'canary', operator: 'Exists' }, l), false);
    assert.equal(matchesExpression({ key: 'canary', operator: 'DoesNotExist' }, l), true);
    assert.equal(matchesExpression({ key: 'toString', operator: 'Exists' }, l), false, 'inherited properties are not labels');
  });

  it('ANDs names, labels and every expression', () => {
    const sel = parseNodeSelector(issueExample);
    assert.equal(matchesSelector(sel, { name: 'n1', labels: { env: 'prod', zone: 'a' } }), true);
    assert.equal(matchesSelector(sel, { name: 'n2', labels: { env: 'prod', zone: 'b', canary: 'true' } }), false);
    assert.equal(matchesSelector(sel, { name: 'n3', labels: { env: 'prod', zone: 'c' } }), false);
    assert.equal(matchesSelector(sel, { name: 'n4', labels: { env: 'dev', zone: 'a' } }), false);
    const named = parseNodeSelector({ names: ['n1'], expressions: [{ key: 'zone', operator: 'Exists' }] });
    assert.equal(matchesSelector(named, { name: 'n1', labels: {} }), false);
    assert.equal(describeSelector(sel), 'env=prod, zone In (a, b), !canary');
    assert.equal(describeSelector(parseNodeSelector({ all: true, limit: 2 })), 'all (limit 2)');
  });

  it('parses the label-selector string of GET /nodes', () => {
    assert.deepEqual(parseLabelSelectorString('env=prod, zone in (a, b),tier!=db,!canary,gpu,region notin (x)'), {
      labels: { env: 'prod' },
      expressions: [
        { key: 'zone', operator: 'In', values: ['a', 'b'] },
        { key: 'tier', operator: 'NotIn', values: ['db'] },
        { key: 'canary', operator: 'DoesNotExist' },
        { key: 'gpu', operator: 'Exists' },
        { key: 'region', operator: 'NotIn', values: ['x'] },
      ],
    });
    assert.deepEqual(parseLabelSelectorString('env==prod'), { labels: { env: 'prod' } });
    assert.match(message(() => parseLabelSelectorString('zone in (a')), /labelSelector has an unbalanced/);
    assert.match(message(() => parseLabelSelectorString('env=prod,,x')), /labelSelector has an empty term/);
    assert.match(message(() => parseLabelSelectorString('bad key=x')), /labelSelector has an invalid label key in .*bad key=x/);
    assert.match(message(() => parseLabelSelectorString('zone in ()')), /labelSelector needs values/);
  });

  it('takes the same string as a job selector, folded into labels and expressions (the console sends it)', () => {
    assert.deepEqual(parseNodeSelector({ selector: 'env=prod,zone in (a,b)', limit: 2 }), {
      all: false,
      labels: { env: 'prod' },
      expressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }],
      limit: 2,
    });
    assert.deepEqual(parseNodeSelector({ names: ['n1'], labels: { env: 'prod' }, selector: 'env=prod,!canary' }), {
      all: false,
      names: ['n1'],
      labels: { env: 'prod' },
      expressions: [{ key: 'canary', operator: 'DoesNotExist' }],
    });
    assert.match(message(() => parseNodeSelector({ selector: 'zone in (a' })), /nodes\.selector has an unbalanced/);
    assert.match(message(() => parseNodeSelector({ selector: 'env=a', labels: { env: 'b' } })), /nodes\.selector asks env=a where labels asks env=b/);
    assert.match(message(() => parseNodeSelector({ selector: 42 })), /nodes\.selector must be a label selector string/);
    assert.match(message(() => parseNodeSelector({ selector: 'x'.repeat(5000) })), /nodes\.selector must be/);
    assert.match(message(() => parseNodeSelector({ all: true, selector: 'a' })), /nodes\.all cannot be combined with selector/);
    assert.match(message(() => parseNodeSelector({ selector: Array.from({ length: 65 }, (_, i) => `k${i}`).join(',') })), /more than 64 expressions/);
  });
});
