import 'reflect-metadata';
import { Logger, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { mountConsole } from './console/console-static';
import { ControllerMetrics } from './metrics/controller-metrics';
import { isLoopbackHost, mountMetrics } from './metrics/metrics-route';
import { EnvError, loadEnv } from './config/env';
import { CONTROLLER_NODE_FLAGS, missingControllerFlags } from './config/node-flags';

async function bootstrap(): Promise<void> {
  let env;
  try {
    env = loadEnv();
  } catch (err) {
    if (err instanceof EnvError) {
      console.error(`tracefleet controller: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forEnv(env), { bufferLogs: false });
  const withConsole = mountConsole(app.getHttpAdapter().getInstance());
  mountMetrics(app.getHttpAdapter().getInstance(), app.get(ControllerMetrics), env);
  app.setGlobalPrefix('api/v1');
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.enableShutdownHooks();
  await app.listen(env.port, env.host);
  const url = await app.getUrl();
  Logger.log(`REST API on ${url.replace('[::1]', 'localhost')}/api/v1`, 'Bootstrap');
  Logger.log(`Prometheus metrics on ${url.replace('[::1]', 'localhost')}/metrics (${env.metricsToken ? 'bearer TRACEFLEET_METRICS_TOKEN' : isLoopbackHost(env.host) ? 'loopback, no token' : 'refused until TRACEFLEET_METRICS_TOKEN is set'})`, 'Bootstrap');
  const missing = missingControllerFlags();
  if (missing.length) Logger.warn(`started without ${missing.join(' ')}: start it as \`node ${CONTROLLER_NODE_FLAGS.join(' ')} main.js\` (config/node-flags.ts)`, 'Bootstrap');
  if (withConsole) Logger.log(`web console on ${url.replace('[::1]', 'localhost')}/`, 'Bootstrap');
}

void bootstrap();
