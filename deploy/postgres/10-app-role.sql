-- The role web, worker and beat connect as (DATABASE_APP_ROLE in accessadmin.env). The postgres
-- image runs this once, when its volume is first initialised, as POSTGRES_USER (the owner, who
-- runs the migrations) in POSTGRES_DB; on a database made before, run it by hand the same way.
--
-- accessadmin_app owns nothing, so it can neither switch a trigger off nor TRUNCATE. Every table
-- the owner makes gives it SELECT, INSERT, UPDATE and DELETE; migration 0008 then leaves it only
-- SELECT and INSERT on audit events.
\getenv owner POSTGRES_USER
\set app_password `cat /run/secrets/app_db_password`

CREATE ROLE accessadmin_app LOGIN PASSWORD :'app_password';
GRANT USAGE ON SCHEMA public TO accessadmin_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO accessadmin_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO accessadmin_app;

-- Tables already there (run by hand on an existing database), the audit trail kept append-only.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO accessadmin_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO accessadmin_app;
DO $$
BEGIN
    IF to_regclass('public.onboarding_auditevent') IS NOT NULL THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON onboarding_auditevent FROM accessadmin_app;
    END IF;
END
$$;
