// The OpenAPI document's building blocks live in common/ so that each job type can write its own part.
export * from '../common/openapi-build';
