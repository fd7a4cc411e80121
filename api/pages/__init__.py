"""The pages people work in (server-rendered, translated, behind a login). JSON lives in api/routes."""
