import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { groupFrameWords, isEvalFrame, mergePythonFrames } from './merge';

const EVAL = '_PyEval_EvalFrameDefault';
const E = 1n; // PY_FRAME_ENTRY

/** Frame words, innermost first, for code objects named by number: word(5, true) is py5 with the entry bit. */
function words(...spec: [number, boolean][]): BigUint64Array {
  return BigUint64Array.from(spec.map(([n, entry]) => (BigInt(n) << 8n) | (entry ? E : 0n)));
}
const nameOf = (w: bigint): string => `py${w >> 8n}`;

describe('mergePythonFrames', () => {
  it('groups frame words by C eval call: a group ends at an entry frame, the rest is a group', () => {
    const g = groupFrameWords(words([1, false], [2, true], [3, true], [4, false], [5, false]));
    assert.deepEqual(
      g.map((x) => x.map(nameOf)),
      [['py1', 'py2'], ['py3'], ['py4', 'py5']],
    );
    assert.deepEqual(groupFrameWords(new BigUint64Array(0)), []);
  });

  it('replaces each eval frame by the frames it ran when the counts agree', () => {
    // main → Py_RunMain → eval(py5,py4) → PyObject_Call → eval(py3) → eval(py2,py1) → json_encode → memcpy
    const user = ['_start', 'Py_RunMain', EVAL, 'PyObject_Call', EVAL, EVAL, 'json_encode', 'memcpy'];
    const w = words([1, false], [2, true], [3, true], [4, false], [5, true]);
    assert.deepEqual(mergePythonFrames(user, w, false, nameOf), [
      '_start',
      'Py_RunMain',
      'py5',
      'py4',
      'PyObject_Call',
      'py3',
      'py2',
      'py1',
      'json_encode',
      'memcpy',
    ]);
  });

  it('keeps the innermost eval frames left over (matched from the root)', () => {
    const user = ['main', EVAL, 'call', EVAL, 'leaf'];
    assert.deepEqual(mergePythonFrames(user, words([1, false], [2, true]), false, nameOf), ['main', 'py2', 'py1', 'call', EVAL, 'leaf']);
  });

  it('puts groups left over in place of the innermost eval frame', () => {
    const user = ['main', EVAL, 'call', EVAL, 'leaf'];
    const w = words([1, true], [2, true], [3, true], [4, true]);
    assert.deepEqual(mergePythonFrames(user, w, false, nameOf), ['main', 'py4', 'call', 'py3', 'py2', 'py1', 'leaf']);
  });

  it('matches from the innermost side when the outermost Python frames were cut off', () => {
    const user = ['main', EVAL, 'a', EVAL, 'b', EVAL, 'leaf'];
    // Only the two innermost C calls' frames fit: the outermost eval frame stays.
    const w = words([1, false], [2, true], [3, false], [4, false]);
    assert.deepEqual(mergePythonFrames(user, w, true, nameOf), ['main', EVAL, 'a', 'py4', 'py3', 'b', 'py2', 'py1', 'leaf']);
    // More groups than eval frames: the extra (outermost) ones join the outermost eval frame.
    const few = ['main', EVAL, 'leaf'];
    assert.deepEqual(mergePythonFrames(few, words([1, true], [2, true], [3, false]), true, nameOf), ['main', 'py3', 'py2', 'py1', 'leaf']);
  });

  it('places the frames after the innermost interpreter frame when there is no eval frame', () => {
    const user = ['_start', 'Py_BytesMain', 'pymain_run_python', 'ext_func', 'read'];
    const w = words([1, false], [2, true]);
    assert.deepEqual(mergePythonFrames(user, w, false, nameOf), ['_start', 'Py_BytesMain', 'pymain_run_python', 'py2', 'py1', 'ext_func', 'read']);
    // Nothing of the interpreter: the native frames are the innermost ones, Python called them.
    assert.deepEqual(mergePythonFrames(['ext_func', 'read'], w, false, nameOf), ['py2', 'py1', 'ext_func', 'read']);
    assert.deepEqual(mergePythonFrames([], w, false, nameOf), ['py2', 'py1']);
  });

  it('leaves the stack alone without Python frames, and knows the eval loop by its split parts', () => {
    const user = ['main', EVAL, 'leaf'];
    const out = mergePythonFrames(user, new BigUint64Array(0), false, nameOf);
    assert.deepEqual(out, user);
    assert.notEqual(out, user);
    assert.equal(isEvalFrame('_PyEval_EvalFrameDefault.cold'), true);
    assert.equal(isEvalFrame('_PyEval_EvalFrameDefault.lto_priv.0'), true);
    assert.equal(isEvalFrame('_PyEval_EvalFrame'), false);
    assert.equal(isEvalFrame('libpython3.11.so.1.0+0x1234'), false);
    assert.deepEqual(mergePythonFrames(['main', '_PyEval_EvalFrameDefault.cold'], words([1, true]), false, nameOf), ['main', 'py1']);
  });
});
