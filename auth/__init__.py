"""Who may do what: users and their roles, browser sessions, bearer tokens, customer scope."""
