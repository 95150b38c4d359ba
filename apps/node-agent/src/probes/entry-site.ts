/**
 * Where to put an entry uprobe so that the kernel does not have to single-step.
 *
 * On x86-64 a uprobe replaces the probed instruction with `int3`. After the BPF
 * program ran, the kernel must still execute the displaced instruction. A few
 * instructions it *emulates* in the trap handler (arch/x86/kernel/uprobes.c:
 * `branch_setup_xol_ops` for call/jmp/jcc rel and nops, `push_setup_xol_ops` for
 * `push reg`); every other one it copies to an out-of-line slot and
 * single-steps, which costs a second trap. On the VMs this project runs on that
 * second trap is the expensive part: ~16 µs per hit against ~0.8 µs.
 *
 * Many functions start with a single-stepped instruction (`test %rdi,%rdi`,
 * `sub $0x18,%rsp`) followed a few bytes later by an emulated one (a `je`, a
 * `push`) with the arguments still in their registers. A probe there sees the
 * same argument registers, fires once per call and costs 20× less.
 * `placeEntryProbe` finds that instruction with a small x86-64 decoder that
 * knows the shapes found in prologues, which registers each writes, and what
 * the kernel emulates; anything it does not know stops the walk and the probe
 * stays at the entry.
 *
 * What the kernel emulates was measured on this project's machines (kernel
 * 6.18.44, perf uprobe PMU, 20,000 hits each; see entry-site.spec.ts):
 *   emulated (~0.9–1.3 µs): `push %reg` (no prefix, or REX 0x41 only: r8–r15),
 *     `jmp`/`jcc`/`call` rel8/rel32 (also with `bnd` = f2), `nop` 0x90 with 66/f3
 *     prefixes (`xchg %ax,%ax`, `pause`), and `0f 1f /0` multi-byte NOPL/NOPW
 *     without REX.
 *   single-stepped (~12–16 µs): `endbr64`, `test`, `sub`, `mov` (also
 *     `mov %rax,%rax`), `lea 0x0(%rsi),%rsi`, `xor`, `ret`, `rex.W push`,
 *     `rex push`, `pushw`, `rex.W nopw`.
 *   refused (ENOTSUPP, the uprobe cannot be attached at all): instructions with
 *     a cs/ds/es/ss segment or lock prefix (`cs nopw`, `ds je`), and branches
 *     with an operand-size (66) prefix.
 * Kernels before 6.18 only treat opcode 0x90 as a nop (0f 1f NOPL is
 * single-stepped there): see `PlacementOptions.emulatesNopl`.
 *
 * Which registers each probed function's program reads, and so where its probes go, is decided in
 * placement.ts; the specs (entry-site.spec.ts) measure the costs above.
 */
import * as fs from 'node:fs';
import { ElfError, requireFunctionSymbol } from '../lib/elf';
import { FileRefused, withRegularFile } from '../safe-file';
import { decodeInstruction } from './x86-decode';
import { canonicalRegister, type DecodeOptions, type Gpr, type Instruction, kernelEmulatesNopl, relText } from './x86-isa';

// ---------------------------------------------------------------------------
// Placement
// ---------------------------------------------------------------------------

export interface Placement {
  symbol: string;
  path: string;
  /** file offset to attach the uprobe at */
  fileOffset: bigint;
  /** bytes past the function entry (0 = entry) */
  delta: number;
  /** the instruction at the chosen site, e.g. "je rel8", "push %rbp" */
  instruction: string;
  emulated: boolean;
  /** why this site */
  reason: string;
  /** the instructions decoded from the entry up to and including the site (or where the walk stopped) */
  walked?: Instruction[];
}

export interface PlacementOptions extends DecodeOptions {
  /** instructions to look at, the site included (default 8) */
  maxInstructions?: number;
}

export interface SitePlan {
  delta: number;
  instruction: string;
  emulated: boolean;
  reason: string;
  walked: Instruction[];
}

function siteText(insn: Instruction): string {
  return insn.form ?? insn.text;
}

/**
 * Plan an entry probe on the machine code of one function (`code` starts at the entry and should
 * not run past the function's end). Pure: no I/O. See `placeEntryProbe`.
 */
export function planEntrySite(code: Uint8Array, keepRegs: string[], options: PlacementOptions = {}): SitePlan {
  const keep = new Set<Gpr>(keepRegs.map(canonicalRegister));
  const stackMatters = keep.has('rsp');
  const max = options.maxInstructions ?? 8;
  const decodeOpts: DecodeOptions = { emulatesNopl: options.emulatesNopl ?? kernelEmulatesNopl() };
  const keepText = keep.size ? [...keep].map((r) => `%${r}`).join(', ') : 'no register';
  const walked: Instruction[] = [];
  const fallback = (why: string): SitePlan => {
    const first = walked[0];
    const head = first ? `entry \`${first.text}\` is ${first.probeable ? 'single-stepped' : 'not probeable'}; ` : '';
    return {
      delta: 0,
      instruction: first ? siteText(first) : '(unknown)',
      emulated: false,
      reason: `${head}${why}; probing the entry`,
      walked,
    };
  };

  let off = 0;
  for (let i = 0; i < max; i++) {
    if (off >= code.length) return fallback(`the function ends at +${off} before any emulated instruction`);
    const r = decodeInstruction(code, off, decodeOpts);
    if (!r.ok) return fallback(`cannot decode the instruction at +${off}: ${r.reason}`);
    const insn = r.insn;
    walked.push(insn);
    if (insn.emulated && insn.probeable) {
      if (i === 0) {
        return {
          delta: 0,
          instruction: siteText(insn),
          emulated: true,
          reason: `entry \`${insn.text}\` is emulated by the kernel; probing the entry`,
          walked,
        };
      }
      const first = walked[0];
      const steps = walked
        .slice(0, -1)
        .map((w) => `+${w.offset} \`${w.text}\``)
        .join(', ');
      const branchNote =
        insn.kind === 'jcc' || insn.kind === 'jmp' || insn.kind === 'call'
          ? ` (${insn.kind === 'call' ? 'calls' : insn.kind === 'jcc' ? 'may jump to' : 'jumps to'} ${relText(insn.target ?? 0)}; the probe fires before it executes, on every call)`
          : '';
      const touchesStack = walked.slice(0, -1).some((w) => w.writes.includes('rsp') || w.writesMemory);
      const stackNote =
        touchesStack && !stackMatters ? ' (it may move %rsp or write memory: allowed, the probe reads registers only, not the stack)' : '';
      return {
        delta: insn.offset,
        instruction: siteText(insn),
        emulated: true,
        reason:
          `entry \`${first.text}\` is single-stepped; +${insn.offset} \`${insn.text}\` is emulated${branchNote} and ` +
          `no instruction before it (${steps}) writes ${keepText} or leaves straight-line code${stackNote}`,
        walked,
      };
    }
    // Not emulated: step over it only if it is straight-line and leaves the kept state alone.
    switch (insn.kind) {
      case 'jcc':
      case 'jmp':
      case 'call':
        return fallback(`+${insn.offset} \`${insn.text}\` is a branch the kernel will not probe (${insn.bytes}) and ends straight-line code`);
      case 'ret':
      case 'indirect':
      case 'trap':
        return fallback(`+${insn.offset} \`${insn.text}\` leaves straight-line code before any emulated instruction`);
      case 'syscall':
        return fallback(`+${insn.offset} \`${insn.text}\` has side effects (the system call runs) before any emulated instruction`);
      default:
        break;
    }
    const hit = insn.writes.filter((r2) => keep.has(r2));
    if (hit.length) {
      return fallback(`+${insn.offset} \`${insn.text}\` writes ${hit.map((r2) => `%${r2}`).join(', ')} before any emulated instruction`);
    }
    if (stackMatters && insn.writesMemory) {
      return fallback(`+${insn.offset} \`${insn.text}\` writes memory, and the probe reads stack state (%rsp is kept)`);
    }
    off += insn.length;
  }
  return fallback(`no emulated instruction within the first ${max} instructions`);
}

/** Up to `size` bytes of `path` at `fileOffset` (fewer at the end of the file); EREAD when unreadable. */
export function readCodeAt(path: string, fileOffset: bigint, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let got = 0;
  try {
    got = withRegularFile(path, undefined, ({ fd }) => fs.readSync(fd, buf, 0, size, Number(fileOffset)));
  } catch (err) {
    throw new ElfError('EREAD', path, err instanceof FileRefused ? err.reason : (err as Error).message);
  }
  return buf.subarray(0, got);
}

/**
 * The cheapest safe place for an ENTRY uprobe that reads the given argument registers: walk the
 * function's first instructions (at most ~8 and only straight-line code: stop at the first branch
 * or call taken as the site), and pick the first instruction the kernel emulates such that every
 * instruction before it neither writes any of `keepRegs` nor changes %rsp-relative state the probe
 * reads, and that is reached on every call (no earlier branch). If the entry instruction itself is
 * emulated, use it (delta 0). If nothing qualifies, fall back to the entry (delta 0, emulated=false)
 * and say why. Unknown encodings stop the walk (fall back), never guess.
 *
 * `keepRegs` are the registers the probe reads ('rdi', '%rsi', 'edx', bpftrace's 'di' ...). Put
 * 'rsp' in it when the probe reads the stack (return address, stack-passed arguments): then no
 * instruction before the site may change %rsp or write memory.
 *
 * Not checked: code elsewhere that jumps into the bytes between the entry and the site (a loop
 * back to the site would make it fire more than once per call). Compilers do not emit such jumps
 * into a prologue; verify a site per binary when in doubt (the spec does, with objdump).
 *
 * Throws ElfError for an unreadable file, a non-x86-64 ELF or a missing symbol.
 */
export function placeEntryProbe(path: string, symbol: string, keepRegs: string[], options: PlacementOptions = {}): Placement {
  const sym = requireFunctionSymbol(path, symbol);
  const want = sym.size > 0n ? Number(sym.size < 256n ? sym.size : 256n) : 64;
  const plan = planEntrySite(readCodeAt(path, sym.fileOffset, want), keepRegs, options);
  let reason = plan.reason;
  if (sym.type === 'ifunc') {
    reason += `; note: ${symbol} is an IFUNC, so this is its resolver (run once at load), not the implementation calls reach`;
  }
  return {
    symbol,
    path,
    fileOffset: sym.fileOffset + BigInt(plan.delta),
    delta: plan.delta,
    instruction: plan.instruction,
    emulated: plan.emulated,
    reason,
    walked: plan.walked,
  };
}
