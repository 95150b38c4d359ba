import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { diffFormatOf, formatOf, nodesBody, parseDuration, parseIntervalMs, parsePair, parsePositiveInt, targetBody, PROFILE_ROUTES } from './parse';

describe('parseDuration', () => {
  it('takes seconds, minutes, hours, whole-second milliseconds and plain seconds', () => {
    assert.equal(parseDuration('30s'), 30);
    assert.equal(parseDuration('2m'), 120);
    assert.equal(parseDuration('1h'), 3600);
    assert.equal(parseDuration('2000ms'), 2);
    assert.equal(parseDuration('45'), 45);
    assert.equal(parseDuration('1.5m'), 90);
    assert.equal(parseIntervalMs('10m'), 600_000);
  });

  it('refuses sub-second, fractional-second and malformed durations, saying why', () => {
    assert.throws(() => parseDuration('500ms'), (e: Error) => e instanceof InvalidArgumentError && /under a second/.test(e.message));
    assert.throws(() => parseDuration('0'), /under a second/);
    assert.throws(() => parseDuration('1500ms'), /whole number of seconds/);
    assert.throws(() => parseDuration('1.5'), /whole number of seconds/);
    for (const bad of ['', 'abc', '5d', '-3s', '3 s s']) assert.throws(() => parseDuration(bad), /not a duration/, bad);
  });
});

describe('output format by extension', () => {
  it('maps each extension to its route', () => {
    assert.equal(formatOf('out.svg'), 'svg');
    assert.equal(formatOf('/tmp/a.folded'), 'folded');
    assert.equal(formatOf('cpu.pb.gz'), 'pprof');
    assert.equal(formatOf('cpu.pprof'), 'pprof');
    assert.equal(formatOf('x.speedscope.json'), 'speedscope');
    assert.equal(formatOf('X.SVG'), 'svg');
    assert.deepEqual(
      ['a.svg', 'a.folded', 'a.pb.gz', 'a.speedscope.json'].map((f) => PROFILE_ROUTES[formatOf(f)]),
      ['flamegraph.svg', 'flamegraph.folded', 'profile.pprof', 'profile.speedscope.json'],
    );
  });

  it('refuses a name whose format it cannot tell', () => {
    for (const bad of ['out.json', 'out', 'out.png', 'out.gz']) assert.throws(() => formatOf(bad), /cannot tell the format/, bad);
    assert.equal(diffFormatOf('d.svg'), 'svg');
    assert.equal(diffFormatOf('d.folded'), 'folded');
    assert.throws(() => diffFormatOf('d.pb.gz'), /\*\.svg or \*\.folded/);
  });
});

describe('nodes and target', () => {
  it('passes a label selector through unchanged, and takes all and names', () => {
    assert.equal(nodesBody(undefined, undefined), 'all');
    assert.equal(nodesBody('all', []), 'all');
    assert.deepEqual(nodesBody('env=prod,zone in (a,b),!canary', undefined), { selector: 'env=prod,zone in (a,b),!canary' });
    assert.deepEqual(nodesBody(undefined, ['n1', 'n2']), { names: ['n1', 'n2'] });
    assert.deepEqual(nodesBody('all', ['n1']), { names: ['n1'] });
    assert.deepEqual(nodesBody('env=prod', ['n1']), { names: ['n1'], selector: 'env=prod' });
  });

  it('takes exactly one target', () => {
    assert.deepEqual(targetBody({ pid: 42 }), { pid: 42 });
    assert.deepEqual(targetBody({ comm: 'nginx' }), { comm: 'nginx' });
    assert.deepEqual(targetBody({ all: true }), { all: true });
    assert.throws(() => targetBody({}), /--pid N, --comm NAME or --all/);
    assert.throws(() => targetBody({ pid: 1, all: true }), /one target, not --pid and --all/);
  });

  it('parses integers and usdt pairs', () => {
    assert.equal(parsePositiveInt('99'), 99);
    for (const bad of ['0', '-1', '1.5', 'x', '']) assert.throws(() => parsePositiveInt(bad), /positive integer/, bad);
    assert.deepEqual(parsePair('a:b,a:c', undefined), [{ begin: 'a:b', end: 'a:c' }]);
    assert.deepEqual(parsePair('a:b,a:c,gc', [{ begin: 'x:y', end: 'x:z' }]), [{ begin: 'x:y', end: 'x:z' }, { begin: 'a:b', end: 'a:c', label: 'gc' }]);
    assert.throws(() => parsePair('a:b', undefined), /not a pair/);
  });
});
