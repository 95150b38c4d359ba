/** For the config specs: the smallest environment loadEnv accepts (no secrets: fixed test values). */
export const GOOD_ENV = {
  DATABASE_URL: 'postgresql://tracefleet:pw@127.0.0.1:5432/x',
  REDIS_URL: 'redis://tracefleet:pw@127.0.0.1:6380',
  TRACEFLEET_API_TOKEN: 'a'.repeat(32),
  TRACEFLEET_ENROLLMENT_TOKEN: 'b'.repeat(32),
  TRACEFLEET_CAPTURE_TOKEN: 'c'.repeat(32),
  TRACEFLEET_CA_CERT: '/pki/ca.pem',
  TRACEFLEET_CA_KEY: '/pki/ca.key',
};
