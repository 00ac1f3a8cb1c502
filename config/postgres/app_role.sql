-- The role the hub's processes log in as on PostgreSQL: it reads and writes the
-- application's tables but may only append to the audit trail, and it owns nothing.
-- Why and how: docs/security.md.
--
-- Run it as the role that owns the tables and runs the migrations (that role needs
-- CREATEROLE the first time, to make the application role), after every migration:
--
--   psql "$MIGRATION_URL" -v ON_ERROR_STOP=1 -v app_role=hub_app -f config/postgres/app_role.sql
--
-- Variables:
--   app_role    required; created as a plain LOGIN role if missing (set its password
--               yourself: \password hub_app)
--   owner_role  the role owning the tables, whose later tables get default privileges;
--               default: the connected user (pass it when running as a superuser)
--   schema      default: public
--
-- Safe to run again: it creates only what is missing and sets the role's privileges to
-- exactly what is listed here. Everything happens in one transaction, and the end state is
-- checked before it commits: if the role could still rewrite an audit table by any path
-- (a grant to PUBLIC, a role it belongs to), nothing changes and the run fails.

\set ON_ERROR_STOP on
\set QUIET on
\if :{?app_role}
\else
  \echo 'app_role is not set: psql -v app_role=hub_app -f config/postgres/app_role.sql'
  DO $$ BEGIN RAISE EXCEPTION 'app_role is not set'; END $$;
\endif
\if :{?owner_role}
\else
  \set owner_role :USER
\endif
\if :{?schema}
\else
  \set schema public
\endif

BEGIN;
SET LOCAL hub.app_role = :'app_role';
SET LOCAL hub.owner_role = :'owner_role';
SET LOCAL hub.schema = :'schema';

DO $$
DECLARE
  app text := current_setting('hub.app_role');
  owner text := current_setting('hub.owner_role');
  sch text := current_setting('hub.schema');
  -- append-only audit tables; any other audit_* table a later migration adds is treated
  -- the same way, and audit_head (the chain's head) may only be moved, never added to
  append_only constant text[] := ARRAY['audit_event', 'audit_checkpoint', 'audit_signing_key',
                                        'audit_verification'];
  who pg_roles%ROWTYPE;
  tbl text;
  allowed text;
  denied text;
BEGIN
  IF app = '' OR app = owner THEN
    RAISE EXCEPTION 'app_role must name a role other than the owner %', owner;
  END IF;

  -- a plain login role: no attribute that reaches around privileges
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = app) THEN
    EXECUTE format('CREATE ROLE %I LOGIN', app);
  END IF;
  SELECT * INTO who FROM pg_roles WHERE rolname = app;
  IF who.rolsuper OR who.rolcreaterole OR who.rolcreatedb OR who.rolreplication
     OR who.rolbypassrls THEN
    RAISE EXCEPTION 'role % has SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS', app;
  END IF;
  IF NOT who.rolcanlogin THEN
    EXECUTE format('ALTER ROLE %I LOGIN', app);
  END IF;
  IF pg_has_role(app, owner, 'MEMBER') THEN
    RAISE EXCEPTION 'role % is a member of % and would act as the owner', app, owner;
  END IF;
  IF EXISTS (
    SELECT FROM pg_shdepend
    WHERE refclassid = 'pg_authid'::regclass AND refobjid = who.oid AND deptype = 'o'
  ) THEN
    RAISE EXCEPTION 'role % owns database objects; the application role must own nothing', app;
  END IF;

  IF NOT has_database_privilege(app, current_database(), 'CONNECT') THEN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), app);
  END IF;
  EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', sch, app);
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', sch, app);

  FOR tbl IN
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = sch AND c.relkind IN ('r', 'p', 'v') ORDER BY c.relname
  LOOP
    allowed := CASE
      WHEN tbl = 'audit_head' THEN 'SELECT, UPDATE'
      WHEN tbl = ANY (append_only) OR starts_with(tbl, 'audit_') THEN 'SELECT, INSERT'
      WHEN tbl = 'alembic_version' THEN 'SELECT'  -- migrations are the owner's
      ELSE 'SELECT, INSERT, UPDATE, DELETE'
    END;
    EXECUTE format('REVOKE ALL ON TABLE %I.%I FROM %I', sch, tbl, app);
    EXECUTE format('GRANT %s ON TABLE %I.%I TO %I', allowed, sch, tbl, app);
  END LOOP;
  EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', sch, app);
  EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', sch, app);

  -- Tables a later migration makes: readable and appendable at once, so the app keeps
  -- working; UPDATE and DELETE come when this script runs again after the migration. A
  -- forgotten run shows as a refused write, never as an audit table the app may rewrite.
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I REVOKE ALL ON TABLES FROM %I',
                 owner, sch, app);
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT, INSERT ON TABLES TO %I',
                 owner, sch, app);
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I REVOKE ALL ON SEQUENCES FROM %I',
                 owner, sch, app);
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I',
                 owner, sch, app);

  -- the end state, whatever path a privilege might come by
  FOR tbl IN
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = sch AND c.relkind IN ('r', 'p') AND starts_with(c.relname, 'audit_')
  LOOP
    FOREACH denied IN ARRAY ARRAY['UPDATE', 'DELETE', 'TRUNCATE'] LOOP
      CONTINUE WHEN tbl = 'audit_head' AND denied = 'UPDATE';
      IF has_table_privilege(app, format('%I.%I', sch, tbl), denied) THEN
        RAISE EXCEPTION 'role % may still % %.% (a grant to PUBLIC or to a role it belongs to)',
          app, denied, sch, tbl;
      END IF;
    END LOOP;
  END LOOP;
  IF has_schema_privilege(app, sch, 'CREATE') THEN
    RAISE WARNING 'role % may create objects in schema % (through PUBLIC?): run REVOKE CREATE ON SCHEMA % FROM PUBLIC',
      app, sch, sch;
  END IF;
END
$$;

COMMIT;

-- what the role may do with the audit tables now
SELECT c.relname AS audit_table,
       concat_ws(', ',
         CASE WHEN has_table_privilege(:'app_role', c.oid, 'SELECT') THEN 'SELECT' END,
         CASE WHEN has_table_privilege(:'app_role', c.oid, 'INSERT') THEN 'INSERT' END,
         CASE WHEN has_table_privilege(:'app_role', c.oid, 'UPDATE') THEN 'UPDATE' END,
         CASE WHEN has_table_privilege(:'app_role', c.oid, 'DELETE') THEN 'DELETE' END,
         CASE WHEN has_table_privilege(:'app_role', c.oid, 'TRUNCATE') THEN 'TRUNCATE' END
       ) AS app_role_may
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relkind IN ('r', 'p') AND starts_with(c.relname, 'audit_')
ORDER BY c.relname;
