import { BadRequestException } from '@nestjs/common';

/** A 400 naming the field, shaped like the ValidationPipe's own (message is a list). */
export function badField(field: string, why: string): never {
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`${field} ${why}`] });
}
