import 'reflect-metadata';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';

export interface NestRoute {
  /** Lower case, as OpenAPI keys operations: get, post, delete, ... */
  method: string;
  /** OpenAPI form, under the global prefix: /jobs/{id}/flamegraph.svg */
  path: string;
  controller: Function;
  handler: Function;
}

const join = (...parts: (string | string[] | undefined)[]): string => {
  const segs = parts.flatMap((p) => (Array.isArray(p) ? p : [p ?? ''])).flatMap((p) => p.split('/')).filter(Boolean);
  return `/${segs.join('/')}`;
};

/** Nest's `:param` as OpenAPI's `{param}`. */
export const toOpenApiPath = (nestPath: string): string => nestPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every route the controllers declare, read from the same metadata Nest's router reads. */
export function nestRoutes(controllers: Function[]): NestRoute[] {
  const out: NestRoute[] = [];
  for (const controller of controllers) {
    const base = Reflect.getMetadata(PATH_METADATA, controller) as string | string[] | undefined;
    if (Array.isArray(base) && base.length !== 1) throw new Error(`${controller.name}: several controller paths are not documented`);
    const proto = controller.prototype as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor') continue;
      const handler = proto[key];
      if (typeof handler !== 'function') continue;
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (path === undefined || method === undefined) continue;
      if (Array.isArray(path) && path.length !== 1) throw new Error(`${controller.name}.${key}: several paths are not documented`);
      out.push({ method: RequestMethod[method].toLowerCase(), path: toOpenApiPath(join(base, path)), controller, handler });
    }
  }
  return out;
}
