-- Sitewatch on PostgreSQL: the role the service connects as, without the right to change or
-- remove the records pay and penalties rest on (DOMAIN.md "Tickets"). Doc: postgresql-roles.md.
--
-- Run as the owner of the Sitewatch tables (the role `sitewatch db upgrade` runs as), in the
-- Sitewatch database, after every `sitewatch db upgrade` and every `sitewatch restore` (both
-- make tables afresh, and pg_restore --no-privileges brings no grants back):
--
--     psql -X -v ON_ERROR_STOP=1 -v app=sitewatch_app -d sitewatch -f deploy/postgresql-app-role.sql
--
-- The role itself is made once, by a superuser or a role with CREATEROLE:
--     CREATE ROLE sitewatch_app LOGIN PASSWORD '...';
--
-- The service's database_url then names sitewatch_app. It needs no DDL right: at the head,
-- the start-up migration only reads alembic_version.

\set ON_ERROR_STOP on

GRANT CONNECT ON DATABASE :"DBNAME" TO :"app";
GRANT USAGE ON SCHEMA public TO :"app";

-- Everything the service reads and writes in the ordinary way ...
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";

-- ... but the audit log and the complaints are written once and never changed or removed;
-- the daily logs are regenerated (UPDATE) until signed and never removed (a signed one is
-- also refused UPDATE by the trigger of revision 0004, and hidden from the role's UPDATE by
-- the policy below); the audit chain's head is moved
-- forward (UPDATE), never removed; the schema's revision is read only.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, complaints FROM :"app";
REVOKE DELETE, TRUNCATE ON daily_reviews, audit_chain_head FROM :"app";
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM :"app";

-- A daily log is the role's to update only while unsigned: row-level security shows it no
-- signed row to update (its UPDATE of one changes nothing; the ORM reports 0 rows). The new
-- row may be signed: that is how a draft is signed. The owner is not subject to it.
ALTER TABLE daily_reviews ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS sitewatch_app_read ON daily_reviews;
DROP POLICY IF EXISTS sitewatch_app_write ON daily_reviews;
DROP POLICY IF EXISTS sitewatch_app_draft ON daily_reviews;
CREATE POLICY sitewatch_app_read ON daily_reviews FOR SELECT TO :"app" USING (true);
CREATE POLICY sitewatch_app_write ON daily_reviews FOR INSERT TO :"app" WITH CHECK (true);
CREATE POLICY sitewatch_app_draft ON daily_reviews FOR UPDATE TO :"app" USING (signed_at IS NULL) WITH CHECK (true);
