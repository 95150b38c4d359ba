-- Makes the role named by the setting tracefleet.role own the current database and what schema public
-- holds (tables, sequences, views, types, routines), so the controller and `prisma migrate deploy` can run
-- as that role without superuser rights. Run as a superuser after `SET tracefleet.role = '<role>'`:
-- infra/local-services/apply.mjs for the set-up's database, e2e/src/harness.ts for the test database.
-- Needed for databases made before the role existed (owned by postgres), and after an older checkout
-- migrated one as postgres; a no-op when everything is already the role's.
DO $adopt$
DECLARE
  r record;
  owner_name text := current_setting('tracefleet.role');
  owner_oid oid := current_setting('tracefleet.role')::regrole::oid;
BEGIN
  IF (SELECT datdba FROM pg_database WHERE datname = current_database()) <> owner_oid THEN
    EXECUTE format('ALTER DATABASE %I OWNER TO %I', current_database(), owner_name);
  END IF;
  -- PostgreSQL 15 gives schema public to pg_database_owner; an older or hand-made one may belong to postgres.
  IF (SELECT nspowner FROM pg_namespace WHERE nspname = 'public') NOT IN (owner_oid, 'pg_database_owner'::regrole::oid) THEN
    EXECUTE format('ALTER SCHEMA public OWNER TO %I', owner_name);
  END IF;
  FOR r IN
    SELECT c.oid::regclass AS name, c.relkind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relowner <> owner_oid
       -- a serial or identity column's sequence follows its table
       AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
     ORDER BY c.relkind DESC
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      r.name, owner_name);
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype AS name
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r') AND t.typowner <> owner_oid
  LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO %I', r.name, owner_name);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS name
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public' AND p.proowner <> owner_oid
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.name, owner_name);
  END LOOP;
END
$adopt$;
