"""Message inbox simulator: stands in for the WeCom and DingTalk robot servers, an SMS gateway
and a webhook endpoint, and shows what paging sent to them.

Modules: `server` (config, checks, the app, build / InboxServer), `page` (the HTML list),
`cli` (main).
"""
