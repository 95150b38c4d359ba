import { Controller, Get, Header, Query } from '@nestjs/common';
import { DiffService } from './diff.service';
import { DiffQueryDto } from './dto/diff-query.dto';

@Controller('diff')
export class DiffController {
  constructor(private readonly diff: DiffService) {}

  @Get('flamegraph.svg')
  @Header('Content-Type', 'image/svg+xml; charset=utf-8')
  svg(@Query() q: DiffQueryDto): Promise<string> {
    return this.diff.svg(q);
  }

  @Get('flamegraph.folded')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  folded(@Query() q: DiffQueryDto): Promise<string> {
    return this.diff.folded(q);
  }
}
