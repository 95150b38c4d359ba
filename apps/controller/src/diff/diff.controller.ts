import { Controller, Get, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DiffService } from './diff.service';
import { DiffQueryDto } from './dto/diff-query.dto';

@Controller('diff')
export class DiffController {
  constructor(private readonly diff: DiffService) {}

  @Get('flamegraph.svg')
  svg(@Query() q: DiffQueryDto, @Res() res: Response): Promise<void> {
    return this.diff.svg(res, q);
  }

  @Get('flamegraph.folded')
  folded(@Query() q: DiffQueryDto, @Res() res: Response): Promise<void> {
    return this.diff.folded(res, q);
  }
}
