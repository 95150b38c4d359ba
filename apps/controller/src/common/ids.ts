/** A UUID in its canonical text form (the ids of jobs, incidents, schedules and reports); anything else is a 404, never a query. */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
