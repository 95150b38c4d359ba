import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, fieldOf, hasScope, type Session } from '../api';
import { go } from '../router';
import { ErrorBox, useLoad } from '../ui';
import { nodesPath, type NodeView } from './fleet';

interface Schema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  description?: string;
  items?: Schema;
  $ref?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  oneOf?: Schema[];
}
interface OpenApi {
  components: { schemas: Record<string, Schema> };
}

/** A job type's form, read from the API's own OpenAPI document: its fields, defaults and limits. */
interface TypeForm {
  type: string;
  description: string;
  fields: [string, Schema][];
  required: string[];
}

const SPECIAL = ['type', 'target', 'nodes'];

export function typeForms(doc: OpenApi): TypeForm[] {
  const s = doc.components.schemas;
  return (s.JobRequest?.oneOf ?? []).flatMap((ref) => {
    const schema = ref.$ref ? s[ref.$ref.split('/').pop()!] : ref;
    const type = schema?.properties?.type?.const;
    if (typeof type !== 'string') return [];
    return [{ type, description: schema.description ?? '', fields: Object.entries(schema.properties ?? {}).filter(([k]) => !SPECIAL.includes(k)), required: schema.required ?? [] }];
  });
}

type Kind = 'number' | 'boolean' | 'enum' | 'text' | 'list' | 'json';
function kindOf(f: Schema): Kind {
  if (f.type === 'integer' || f.type === 'number') return 'number';
  if (f.type === 'boolean') return 'boolean';
  if (f.enum) return 'enum';
  if (f.type === 'string') return 'text';
  if (f.type === 'array' && f.items?.type === 'string') return 'list';
  return 'json';
}

/** The value to send for what the user typed, or undefined to leave the API's default; throws a message for bad JSON. */
function valueOf(kind: Kind, raw: string): unknown {
  if (raw.trim() === '') return undefined;
  switch (kind) {
    case 'number':
      return Number(raw);
    case 'boolean':
      return raw === 'true';
    case 'list':
      return raw
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
    case 'json':
      try {
        return JSON.parse(raw);
      } catch {
        throw new Error('is not valid JSON');
      }
    default:
      return raw;
  }
}

export function NewJob({ session, query }: { session: Session; query: URLSearchParams }) {
  const doc = useLoad(() => api<OpenApi>('GET', '/openapi.json'), []);
  const forms = useMemo(() => (doc.data ? typeForms(doc.data).filter((f) => f.type !== 'ssl-capture' || hasScope(session, 'ssl-capture')) : []), [doc.data, session]);
  const [type, setType] = useState(query.get('type') ?? 'cpu-profile');
  const form = forms.find((f) => f.type === type) ?? forms[0];
  const [values, setValues] = useState<Record<string, string>>({ durationSec: '10' });
  const [targetKind, setTargetKind] = useState<'pid' | 'comm' | 'all'>('comm');
  const [target, setTarget] = useState('');
  const [nodesKind, setNodesKind] = useState<'all' | 'selector' | 'names'>('all');
  const [nodes, setNodes] = useState('');
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [general, setGeneral] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [matching, setMatching] = useState<{ count?: number; names?: string[]; error?: string }>({});

  // The live count of connected nodes the selector picks that can run this type (debounced).
  useEffect(() => {
    const t = setTimeout(() => {
      const sel = nodesKind === 'selector' ? nodes : '';
      api<NodeView[]>('GET', `${nodesPath(sel, 'connected')}&capability=${encodeURIComponent(form?.type ?? type)}`).then(
        (list) => {
          const names = nodesKind === 'names' ? nodes.split(',').map((n) => n.trim()).filter(Boolean) : undefined;
          const picked = names ? list.filter((n) => names.includes(n.name)) : list;
          setMatching({ count: picked.length, names: picked.slice(0, 8).map((n) => n.name) });
        },
        (e) => setMatching({ error: e instanceof ApiError ? e.messages.join('; ').replace(/^labelSelector/, 'selector') : String(e) }),
      );
    }, 250);
    return () => clearTimeout(t);
  }, [nodes, nodesKind, form?.type]);

  if (doc.error) return <ErrorBox error={doc.error} />;
  if (!form) return <p class="muted">Loading the job types…</p>;

  const fieldNames = [...form.fields.map(([k]) => k), 'target', 'nodes', 'type'];
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const body: Record<string, unknown> = { type: form.type };
    const local: Record<string, string[]> = {};
    for (const [k, f] of form.fields) {
      try {
        const v = valueOf(kindOf(f), values[k] ?? '');
        if (v !== undefined) body[k] = v;
      } catch (err) {
        local[k] = [`${k} ${(err as Error).message}`];
      }
    }
    body.target = targetKind === 'all' ? { all: true } : targetKind === 'pid' ? { pid: target.trim() === '' ? undefined : Number(target) } : { comm: target };
    body.nodes = nodesKind === 'all' ? 'all' : nodesKind === 'selector' ? { selector: nodes } : { names: nodes.split(',').map((n) => n.trim()).filter(Boolean) };
    setErrors(local);
    setGeneral(undefined);
    if (Object.keys(local).length > 0) return;
    setBusy(true);
    try {
      const job = await api<{ id: string }>('POST', '/jobs', body);
      go(`jobs/${job.id}`);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 400 || err.status === 422)) {
        const byField: Record<string, string[]> = {};
        const rest: string[] = [];
        for (const m of err.messages) {
          const f = fieldOf(m, fieldNames);
          if (f) (byField[f] ??= []).push(m);
          else rest.push(m);
        }
        setErrors(byField);
        if (rest.length) setGeneral(new ApiError(err.status, rest, err.body));
      } else setGeneral(err);
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (k: string) =>
    errors[k] && (
      <span class="field-error" role="alert" data-testid={`error-${k}`} id={`err-${k}`}>
        {errors[k].join('; ')}
      </span>
    );

  return (
    <>
      <h1>New job</h1>
      <form class="job-form" onSubmit={(e) => void submit(e)} noValidate>
        <div class="field">
          <label for="f-type">Type</label>
          <select id="f-type" value={form.type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
            {forms.map((f) => (
              <option value={f.type}>{f.type}</option>
            ))}
          </select>
          <span class="help">{form.description}</span>
          {fieldError('type')}
        </div>
        <fieldset class="field">
          <legend>Target</legend>
          {(['comm', 'pid', 'all'] as const).map((k) => (
            <label class="inline">
              <input type="radio" name="target" value={k} checked={targetKind === k} onChange={() => setTargetKind(k)} /> {k === 'all' ? 'all processes' : k}
            </label>
          ))}
          {targetKind !== 'all' && (
            <input id="f-target" aria-label={`target ${targetKind}`} aria-describedby="err-target" value={target} onInput={(e) => setTarget((e.target as HTMLInputElement).value)} placeholder={targetKind === 'pid' ? 'process id' : 'command name (up to 15 characters)'} />
          )}
          {fieldError('target')}
        </fieldset>
        {form.fields.map(([k, f]) => {
          const kind = kindOf(f);
          const id = `f-${k}`;
          const common = { id, name: k, 'aria-describedby': `err-${k}`, value: values[k] ?? '', onInput: (e: Event) => setValues({ ...values, [k]: (e.target as HTMLInputElement).value }) };
          const dflt = f.default === undefined ? '' : JSON.stringify(f.default);
          return (
            <div class="field" data-field={k}>
              <label for={id}>
                {k}
                {form.required.includes(k) ? ' *' : ''}
              </label>
              {kind === 'number' && <input type="number" min={f.minimum} max={f.maximum} placeholder={dflt} {...common} />}
              {kind === 'boolean' && (
                <select {...common} onChange={common.onInput}>
                  <option value="">default ({dflt || 'unset'})</option>
                  <option value="true">true</option>
                  <option value="false">false</option>
                </select>
              )}
              {kind === 'enum' && (
                <select {...common} onChange={common.onInput}>
                  <option value="">default ({dflt || 'unset'})</option>
                  {f.enum!.map((v) => (
                    <option value={String(v)}>{String(v)}</option>
                  ))}
                </select>
              )}
              {kind === 'text' && <input maxLength={f.maxLength} placeholder={dflt} {...common} />}
              {kind === 'list' && <input placeholder={dflt || 'comma-separated'} {...common} />}
              {kind === 'json' && <textarea rows={2} placeholder={dflt || 'JSON'} {...common} />}
              <span class="help">
                {f.description}
                {f.minimum !== undefined || f.maximum !== undefined ? ` (${f.minimum ?? '…'}–${f.maximum ?? '…'})` : ''}
              </span>
              {fieldError(k)}
            </div>
          );
        })}
        <fieldset class="field">
          <legend>Nodes</legend>
          {(['all', 'selector', 'names'] as const).map((k) => (
            <label class="inline">
              <input type="radio" name="nodes" value={k} checked={nodesKind === k} onChange={() => setNodesKind(k)} /> {k === 'all' ? 'every node' : k === 'selector' ? 'label selector' : 'node names'}
            </label>
          ))}
          {nodesKind !== 'all' && (
            <input id="f-nodes" aria-label={`nodes: ${nodesKind}`} aria-describedby="err-nodes" value={nodes} onInput={(e) => setNodes((e.target as HTMLInputElement).value)} placeholder={nodesKind === 'selector' ? 'env=prod,zone in (a,b)' : 'node-a, node-b'} />
          )}
          <span class="help" data-testid="node-count" aria-live="polite">
            {matching.error ? <span class="field-error">{matching.error}</span> : matching.count === undefined ? '…' : `${matching.count} connected node${matching.count === 1 ? '' : 's'} match${matching.count === 1 ? 'es' : ''}${matching.names?.length ? `: ${matching.names.join(', ')}${matching.count > matching.names.length ? ', …' : ''}` : ''}`}
          </span>
          {fieldError('nodes')}
        </fieldset>
        <button type="submit" disabled={busy} data-testid="submit-job">
          Start {form.type}
        </button>
        <ErrorBox error={general} />
      </form>
    </>
  );
}
