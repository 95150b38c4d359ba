import { Controller, Get } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { buildOpenApi, type OpenApiDocument } from './openapi';

/** The API description is public like /health: it holds no data, and clients need it before they have a token. */
@Controller('openapi.json')
export class OpenApiController {
  private readonly doc = buildOpenApi();

  @Public()
  @Get()
  document(): OpenApiDocument {
    return this.doc;
  }
}
