-- Run once by the postgres image when it creates the database (deploy/compose.yaml). The hub
-- connects as acb, the owner of its tables, migrates the schema, grants acb_app access, and runs
-- every transaction as acb_app (ACB_DATABASE_ROLE), which row-level security restricts.
CREATE ROLE acb_app NOLOGIN;
