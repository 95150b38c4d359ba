import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'tracefleet:public';
/** Marks a route that needs no token (health only). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);
